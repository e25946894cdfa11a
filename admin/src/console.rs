//! The web console: one page (HTML, script, style in `admin/assets/`) compiled into the
//! binary and served from the admin port under `/ui/`, with `/` leading to it. The page
//! polls the JSON API of the process that served it; there is no build step and nothing
//! to install or find on disk at run time.
//!
//! The page is served without the bearer token: a browser cannot send one when it
//! navigates, and the page holds no data. When the API answers 401 the page asks the
//! operator for the token and sends it with every request after.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/console.js");
const STYLE: &str = include_str!("../assets/console.css");

/// The console's routes, merged into the admin router outside its token check.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui", get(|| async { Redirect::temporary("/ui/") }))
        .route(
            "/ui/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/ui/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/ui/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}

/// An embedded file. The policy lets the page load only its own script and style and
/// talk only to its own origin, so nothing the API returns can pull in anything else.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Always revalidated: a newer binary's page replaces an older one at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

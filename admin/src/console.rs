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

#[cfg(test)]
mod tests {
    use crate::{AdminConfig, AdminServer, Process};

    /// A server with a token and no nodes: the console is served without the token.
    fn server() -> (AdminServer, ureq::Agent) {
        let config = AdminConfig {
            token: Some("t".into()),
            ..AdminConfig::loopback()
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        (
            AdminServer::start(config, Process::default()).unwrap(),
            agent,
        )
    }

    #[test]
    fn the_page_and_its_files_are_served_without_the_token() {
        let (s, agent) = server();
        let base = format!("http://{}", s.local_addr());
        for (path, kind, marker) in [
            ("/ui/", "text/html", "<title>roster console</title>"),
            ("/ui/console.js", "text/javascript", "async function poll()"),
            ("/ui/console.css", "text/css", ".slot"),
        ] {
            let mut r = agent.get(format!("{base}{path}")).call().unwrap();
            assert_eq!(r.status(), 200, "{path}");
            let header = |h: &str| r.headers().get(h).unwrap().to_str().unwrap().to_string();
            assert!(header("content-type").starts_with(kind), "{path}");
            assert!(header("content-security-policy").starts_with("default-src 'self'"));
            assert!(
                r.body_mut().read_to_string().unwrap().contains(marker),
                "{path}"
            );
        }
        let r = agent.get(format!("{base}/")).call().unwrap();
        assert_eq!(r.status(), 307);
        assert_eq!(r.headers().get("location").unwrap(), "/ui/");
        // The data the page shows still needs the token.
        let r = agent.get(format!("{base}/v1/cluster")).call().unwrap();
        assert_eq!(r.status(), 401);
    }
}

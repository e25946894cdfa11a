//! The admin API's HTTP client: one blocking request at a time, tried on each listed admin
//! address in turn until one answers, then kept on that address for the rest of the
//! command. An answer is any HTTP response, an error status included (a node that says
//! "no" has answered); only a connection that fails moves on to the next address.
//!
//! `ureq` because the CLI needs nothing more than blocking requests: no async runtime and
//! a handful of small dependencies. Its rustls (the one the rest of roster uses) reaches an
//! admin port that serves HTTPS (a node with `[tls]`): `--tls-ca` names the cluster CA
//! to verify it against, and makes `https` the scheme of bare `host:port` addresses.

use serde_json::Value;
use std::cell::Cell;
use std::fmt;
use std::path::Path;
use std::time::Duration;
use ureq::http::{Method, Request};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// Longest wait for one admin address: connecting and the whole exchange.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait to connect before the next address is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a `roster admin` command failed.
#[derive(Debug)]
pub enum ApiError {
    /// The flags were wrong (no address, an address that is not HTTP).
    Config(String),
    /// No listed address answered: each with why.
    Unreachable(Vec<(String, String)>),
    /// The API answered with an error status; `code` and `message` from its JSON error.
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The API's error code, when the body was a JSON error.
        code: Option<String>,
        /// The API's message, or the body as text.
        message: String,
    },
    /// The API answered with something that is not the JSON expected.
    Decode {
        /// The request's URL.
        url: String,
        /// What was wrong.
        what: String,
    },
    /// Writing the output failed.
    Output(std::io::Error),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Config(m) => write!(f, "{m}"),
            ApiError::Unreachable(tried) => {
                let each: Vec<String> = tried
                    .iter()
                    .map(|(a, why)| format!("{a} ({why})"))
                    .collect();
                write!(f, "no admin address answered: {}", each.join("; "))
            }
            ApiError::Status {
                url,
                status,
                code,
                message,
            } => match code {
                Some(code) => write!(f, "{url}: HTTP {status} {code}: {message}"),
                None => write!(f, "{url}: HTTP {status}: {message}"),
            },
            ApiError::Decode { url, what } => write!(f, "{url}: unexpected answer: {what}"),
            ApiError::Output(e) => write!(f, "writing the output: {e}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// A response the caller judges by itself (such as `/readyz`, whose 503 is information).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

/// The admin API of one cluster, reached through any of several addresses.
#[derive(Debug)]
pub struct Api {
    bases: Vec<String>,
    token: Option<String>,
    agent: ureq::Agent,
    /// The address that answered last: tried first next time.
    current: Cell<usize>,
}

/// `host:port`, `http://host:port[/]` or `https://host:port[/]` as a base URL without the
/// trailing slash; a bare address takes `scheme`.
fn base_url(addr: &str, scheme: &str) -> Result<String, ApiError> {
    let addr = addr.trim();
    let (scheme, host) = match addr.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (s, rest),
        Some((s, _)) => {
            return Err(ApiError::Config(format!(
                "--admin {addr}: the admin port speaks http or https, not {s}"
            )));
        }
        None => (scheme, addr),
    };
    let host = host.trim_end_matches('/');
    if host.is_empty() {
        return Err(ApiError::Config(format!("--admin {addr}: no host")));
    }
    Ok(format!("{scheme}://{host}"))
}

/// The TLS settings of the agent: the cluster CA of `tls_ca` as the only trusted root
/// (an admin port's certificate is the node's, signed by it); the public roots without.
fn tls_config(tls_ca: Option<&Path>) -> Result<TlsConfig, ApiError> {
    let Some(path) = tls_ca else {
        return Ok(TlsConfig::default());
    };
    let certs = roster_shell::tls::load_certs("ca", path)
        .map_err(|e| ApiError::Config(format!("--tls-ca: {e}")))?;
    let roots: Vec<Certificate<'static>> = certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

impl Api {
    /// The API at `addrs` (comma-separated), sending `token` as a bearer token if given,
    /// and verifying HTTPS admin ports against the CA in the PEM file `tls_ca` (which
    /// makes `https` the scheme of bare addresses).
    pub fn new(addrs: &str, token: Option<&str>, tls_ca: Option<&Path>) -> Result<Api, ApiError> {
        let scheme = if tls_ca.is_some() { "https" } else { "http" };
        let bases = addrs
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| base_url(a, scheme))
            .collect::<Result<Vec<_>, _>>()?;
        if bases.is_empty() {
            return Err(ApiError::Config(
                "--admin (or ROSTER_ADMIN): give at least one admin address".into(),
            ));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            // An error status is an answer to show, with the API's JSON error.
            .http_status_as_error(false)
            // The admin port is reached directly, whatever proxy the environment names.
            .proxy(None)
            .tls_config(tls_config(tls_ca)?)
            .build()
            .into();
        Ok(Api {
            bases,
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
            agent,
            current: Cell::new(0),
        })
    }

    /// Sends `method path` with an optional JSON body to the first address that answers.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(String, Answer), ApiError> {
        let mut tried = Vec::new();
        let n = self.bases.len();
        for k in 0..n {
            let i = (self.current.get() + k) % n;
            let url = format!("{}{path}", self.bases[i]);
            let mut req = Request::builder().method(method.clone()).uri(&url);
            if let Some(t) = &self.token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let sent = match body {
                Some(b) => req
                    .header("content-type", "application/json")
                    .body(b.to_string())
                    .map(|r| self.agent.run(r)),
                None => req.body(String::new()).map(|r| self.agent.run(r)),
            };
            let sent = sent.map_err(|e| ApiError::Config(format!("{url}: {e}")))?;
            match sent {
                Ok(mut resp) => {
                    self.current.set(i);
                    let status = resp.status().as_u16();
                    let body = resp
                        .body_mut()
                        .read_to_string()
                        .map_err(|e| ApiError::Decode {
                            url: url.clone(),
                            what: e.to_string(),
                        })?;
                    return Ok((url, Answer { status, body }));
                }
                Err(e) => tried.push((self.bases[i].clone(), e.to_string())),
            }
        }
        Err(ApiError::Unreachable(tried))
    }

    /// `GET path` as JSON; an error status is an [`ApiError::Status`].
    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.json(Method::GET, path, None)
    }

    /// `method path` with a JSON body, answered with JSON; an error status is an
    /// [`ApiError::Status`]. For the commands that change something.
    pub fn send(&self, method: Method, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.json(method, path, Some(body))
    }

    /// `GET path` answered with any status (such as `/readyz`).
    pub fn probe(&self, path: &str) -> Result<Answer, ApiError> {
        self.request(Method::GET, path, None).map(|(_, a)| a)
    }

    fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let (url, a) = self.request(method, path, body)?;
        let parsed = serde_json::from_str::<Value>(&a.body);
        if !(200..300).contains(&a.status) {
            return Err(status_error(url, a.status, parsed.ok(), &a.body));
        }
        parsed.map_err(|e| ApiError::Decode {
            url,
            what: format!("not JSON ({e})"),
        })
    }
}

/// The API's JSON error (`{"code", "message"}`, possibly under `"error"`), or the body.
fn status_error(url: String, status: u16, json: Option<Value>, body: &str) -> ApiError {
    let err = json.map(|j| j.get("error").cloned().unwrap_or(j));
    let field = |k: &str| {
        err.as_ref()
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    ApiError::Status {
        url,
        status,
        code: field("code"),
        message: field("message").unwrap_or_else(|| {
            // Not the API's JSON (a proxy's page, say): its words on one short line.
            let words: Vec<&str> = body.split_whitespace().collect();
            words.join(" ").chars().take(200).collect()
        }),
    }
}

/// `s` as one path segment (a data id may hold any character).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_base_urls() {
        assert_eq!(
            base_url("127.0.0.1:9", "http").unwrap(),
            "http://127.0.0.1:9"
        );
        assert_eq!(base_url(" http://h:9/ ", "https").unwrap(), "http://h:9");
        assert_eq!(base_url("h:9", "https").unwrap(), "https://h:9");
        assert_eq!(base_url("https://h:9", "http").unwrap(), "https://h:9");
        assert!(matches!(
            base_url("ftp://h:9", "http"),
            Err(ApiError::Config(_))
        ));
        assert!(matches!(
            base_url("http://", "http"),
            Err(ApiError::Config(_))
        ));
        assert!(matches!(
            Api::new(" , ", None, None),
            Err(ApiError::Config(_))
        ));
    }

    #[test]
    fn a_json_error_keeps_its_code_and_message() {
        let j = serde_json::json!({"error": {"code": "not_found", "message": "no such key"}});
        let e = status_error("u".into(), 404, Some(j), "");
        assert_eq!(
            e.to_string(),
            "u: HTTP 404 not_found: no such key",
            "the API's own words reach the operator"
        );
        let e = status_error("u".into(), 502, None, "<p>bad\n  gateway</p>\n");
        assert_eq!(e.to_string(), "u: HTTP 502: <p>bad gateway</p>");
    }

    #[test]
    fn a_data_id_is_one_segment() {
        assert_eq!(segment("a.b/c d#e"), "a%2Eb%2Fc%20d%23e");
    }

    #[test]
    fn an_unreachable_list_names_every_address() {
        // Port 1 on loopback refuses at once: both addresses are tried and reported.
        let api = Api::new("127.0.0.1:1,127.0.0.2:1", None, None).unwrap();
        match api.get("/v1/cluster") {
            Err(ApiError::Unreachable(tried)) => {
                assert_eq!(tried.len(), 2);
                assert_eq!(tried[1].0, "http://127.0.0.2:1");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
}

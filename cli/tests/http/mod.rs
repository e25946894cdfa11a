//! A small blocking HTTP client for the gateway tests (ureq): JSON calls that return the
//! status and the body whatever the status, and a reader of Server-Sent Events.

#![allow(dead_code, unreachable_pub)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};

/// The gateway at a base URL.
pub struct Http {
    pub base: String,
    pub agent: ureq::Agent,
}

fn json_of(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut resp = resp.expect("the gateway answers");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().expect("a body");
    if body.is_empty() {
        return (status, Value::Null);
    }
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, json)
}

impl Http {
    pub fn new(base: &str) -> Http {
        let agent = crate::common::tls::http_agent(base, false);
        Http {
            base: base.to_string(),
            agent,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        json_of(self.agent.get(&self.url(path)).call())
    }

    pub fn put(&self, path: &str, body: &str) -> (u16, Value) {
        json_of(
            self.agent
                .put(&self.url(path))
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    pub fn put_empty(&self, path: &str) -> (u16, Value) {
        json_of(self.agent.put(&self.url(path)).send_empty())
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        json_of(self.agent.delete(&self.url(path)).call())
    }
}

/// Events of a `text/event-stream` response, one at a time.
pub struct SseReader {
    pub status: u16,
    lines: BufReader<Box<dyn Read + Send>>,
}

impl SseReader {
    pub fn open(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> SseReader {
        let resp = resp.expect("the gateway answers");
        let status = resp.status().as_u16();
        let reader: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        SseReader {
            status,
            lines: BufReader::new(reader),
        }
    }

    /// The next event's (name, id, data); `None` at the end of the stream. Comments
    /// (keep-alives) are skipped.
    pub fn next_event(&mut self) -> Option<(String, String, String)> {
        let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
        loop {
            let mut line = String::new();
            if self.lines.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() || !event.is_empty() {
                    return Some((event, id, data));
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim_start().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }
}

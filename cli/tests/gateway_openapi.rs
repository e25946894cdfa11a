//! `docs/gateway.openapi.yaml` against a running gateway: every documented path and
//! method is exercised, each answer's status is one the document lists for it, and each
//! answer's body (JSON, or an SSE event's data) fits the documented schema: its type, its
//! required fields, its enums.

mod common;
mod http;

use common::dev_with_http;
use http::{Http, SseReader};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const DOC: &str = include_str!("../../docs/gateway.openapi.yaml");

/// The document, with what the test exercised so far.
struct Spec {
    doc: Value,
    seen: BTreeSet<(String, String)>,
}

impl Spec {
    fn load() -> Spec {
        let doc: Value = serde_yaml_ng::from_str(DOC).expect("the OpenAPI document parses");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        Spec {
            doc,
            seen: BTreeSet::new(),
        }
    }

    /// Follows `$ref`s within the document.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r.strip_prefix('#').expect("a local $ref");
            v = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{r} resolves"));
        }
        v
    }

    /// Checks that `template` + `method` is documented, answers `status` with `body`
    /// (of `content_type`) as documented.
    fn check(
        &mut self,
        template: &str,
        method: &str,
        status: u16,
        content_type: &str,
        body: &Value,
    ) {
        self.seen.insert((template.to_string(), method.to_string()));
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is documented");
        let response = self.resolve(&op["responses"][status.to_string()]);
        assert!(
            response.is_object(),
            "{method} {template}: status {status} is documented ({body})"
        );
        let Some(content) = response.get("content") else {
            assert!(
                body.is_null(),
                "{method} {template} {status}: no body documented"
            );
            return;
        };
        let schema = &content[content_type]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} {status}: {content_type} is documented"
        );
        let at = format!("{method} {template} {status}");
        self.fits(schema, body, &at);
    }

    /// Whether `value` fits `schema` (the subset of JSON Schema the document uses).
    fn fits(&self, schema: &Value, value: &Value, at: &str) {
        let schema = self.resolve(schema);
        if value.is_null() && schema["nullable"] == true {
            return;
        }
        match schema["type"].as_str() {
            Some("object") => {
                let object = value
                    .as_object()
                    .unwrap_or_else(|| panic!("{at}: object, got {value}"));
                for field in schema["required"].as_array().into_iter().flatten() {
                    let field = field.as_str().unwrap();
                    assert!(
                        object.contains_key(field),
                        "{at}: required {field} in {value}"
                    );
                }
                for (k, v) in object {
                    if let Some(p) = schema["properties"].get(k) {
                        self.fits(p, v, &format!("{at}.{k}"));
                    } else if schema["additionalProperties"].is_object() {
                        self.fits(&schema["additionalProperties"], v, &format!("{at}.{k}"));
                    } else {
                        assert!(schema["additionalProperties"] != false, "{at}: unknown {k}");
                    }
                }
            }
            Some("array") => {
                let items = value
                    .as_array()
                    .unwrap_or_else(|| panic!("{at}: array, got {value}"));
                for (i, item) in items.iter().enumerate() {
                    self.fits(&schema["items"], item, &format!("{at}[{i}]"));
                }
            }
            Some("string") => {
                let s = value
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: string, got {value}"));
                if let Some(allowed) = schema["enum"].as_array() {
                    assert!(
                        allowed.contains(value),
                        "{at}: {s:?} is not among {allowed:?}"
                    );
                }
            }
            Some("integer") => assert!(
                value.is_u64() || value.is_i64(),
                "{at}: integer, got {value}"
            ),
            other => panic!("{at}: the test does not know schema type {other:?}"),
        }
    }

    /// Every documented path and method, as (template, method).
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in ["get", "put", "post", "delete", "patch"] {
                if item.get(method).is_some() {
                    all.insert((path.clone(), method.to_string()));
                }
            }
        }
        all
    }
}

const LIST: &str = "/v1/services/{data_id}";
const WATCH: &str = "/v1/services/{data_id}/watch";
const INSTANCE: &str = "/v1/services/{data_id}/instances/{id}";
const HEARTBEAT: &str = "/v1/services/{data_id}/instances/{id}/heartbeat";
const JSON: &str = "application/json";
const SSE: &str = "text/event-stream";

#[test]
fn the_openapi_document_describes_what_the_gateway_answers() {
    let mut spec = Spec::load();
    let (_dev, base, _) = dev_with_http();
    let http = Http::new(&base);
    let instance = "/v1/services/openapi.svc/instances/i-1";
    let example =
        spec.doc["paths"][INSTANCE]["put"]["requestBody"]["content"][JSON]["example"].clone();
    assert!(example.is_object(), "the registration has an example");

    let (s, b) = http.put(instance, &example.to_string());
    assert_eq!(s, 201, "{b}");
    spec.check(INSTANCE, "put", s, JSON, &b);
    let (s, b) = http.put(instance, &example.to_string());
    assert_eq!(s, 200, "{b}");
    spec.check(INSTANCE, "put", s, JSON, &b);
    for bad in ["{", &json!({"payload": "p", "ttl_ms": 1}).to_string()] {
        let (s, b) = http.put(instance, bad);
        spec.check(INSTANCE, "put", s, JSON, &b);
    }
    let big = json!({"payload": "x".repeat(100_000), "ttl_ms": 10000}).to_string();
    let (s, b) = http.put(instance, &big);
    assert_eq!(s, 413);
    spec.check(INSTANCE, "put", s, JSON, &b);

    let mut stream = SseReader::open(
        http.agent
            .put(&http.url("/v1/services/openapi.svc/instances/s-1?keep=stream"))
            .send(json!({"payload": "p"}).to_string()),
    );
    let (event, _, data) = stream.next_event().expect("the registered event");
    assert_eq!(event, "registered");
    spec.check(
        INSTANCE,
        "put",
        stream.status,
        SSE,
        &serde_json::from_str(&data).unwrap(),
    );
    drop(stream);

    let (s, b) = http.put_empty(&format!("{instance}/heartbeat"));
    assert_eq!(s, 200, "{b}");
    spec.check(HEARTBEAT, "put", s, JSON, &b);
    let (s, b) = http.put_empty("/v1/services/openapi.svc/instances/nobody/heartbeat");
    spec.check(HEARTBEAT, "put", s, JSON, &b);

    let (s, b) = http.get("/v1/services/openapi.svc");
    assert_eq!(s, 200, "{b}");
    spec.check(LIST, "get", s, JSON, &b);
    let version = b["version"].as_str().unwrap().to_string();
    let (s, b) = http.get(&format!(
        "/v1/services/openapi.svc?index={version}&wait=100ms"
    ));
    spec.check(LIST, "get", s, JSON, &b);
    let (s, b) = http.get("/v1/services/openapi.svc?index=x");
    spec.check(LIST, "get", s, JSON, &b);

    let mut watch = SseReader::open(
        http.agent
            .get(&http.url("/v1/services/openapi.svc/watch"))
            .call(),
    );
    let (event, _, data) = watch.next_event().expect("a list event");
    assert_eq!(event, "list");
    spec.check(
        WATCH,
        "get",
        watch.status,
        SSE,
        &serde_json::from_str(&data).unwrap(),
    );
    let (s, b) = http.get("/v1/services/openapi.svc/watch?index=x");
    spec.check(WATCH, "get", s, JSON, &b);

    let (s, b) = http.delete(instance);
    assert_eq!(s, 204);
    spec.check(INSTANCE, "delete", s, JSON, &b);
    let (s, b) = http.delete(instance);
    spec.check(INSTANCE, "delete", s, JSON, &b);

    assert_eq!(
        spec.seen,
        spec.operations(),
        "every documented operation was exercised"
    );
}

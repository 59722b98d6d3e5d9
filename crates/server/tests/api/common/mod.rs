//! The test server (in-process, on 127.0.0.1:0, with a temporary data directory), a blocking
//! HTTP client that records every reply, and a minimal JSON Schema checker for the OpenAPI
//! document.

#![allow(dead_code)] // each test binary uses part of this module

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use weft_server::{NamespaceConfig, ServerConfig};

pub const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
pub const ACME_KEY: &str = "acme-key-0123456789abcdef";

/// A configuration with an admin key and namespace `acme` (key [`ACME_KEY`]) on `data_dir`.
pub fn config(data_dir: &Path) -> ServerConfig {
    let mut namespaces = BTreeMap::new();
    namespaces.insert(
        "acme".to_string(),
        NamespaceConfig {
            api_keys: vec![ACME_KEY.to_string()],
            ..NamespaceConfig::default()
        },
    );
    ServerConfig {
        data_dir: data_dir.to_path_buf(),
        admin_key: Some(ADMIN_KEY.to_string()),
        namespaces,
        ..ServerConfig::default()
    }
}

/// One reply as received.
#[derive(Clone, Debug)]
pub struct Reply {
    pub method: String,
    /// The route as documented (`/v1/workflows/{id}`).
    pub route: String,
    pub status: u16,
    pub content_type: String,
    pub text: String,
    /// The body as JSON (Null when empty or not JSON).
    pub json: Value,
}

impl Reply {
    /// The error code of a JSON error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

/// A server running on its own thread and runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    agent: ureq::Agent,
    pub replies: Mutex<Vec<Reply>>,
}

impl TestServer {
    /// Starts a server with `config` and waits until it answers `/healthz`.
    pub fn start(config: ServerConfig) -> TestServer {
        let data_dir = config.data_dir.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addr_tx.send(listener.local_addr()?).expect("test waits");
                weft_server::serve(config, listener, async move {
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        let addr = addr_rx.recv().expect("server bound");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(90)))
            .build()
            .into();
        let server = TestServer {
            addr,
            data_dir,
            stop: Some(stop_tx),
            thread: Some(thread),
            agent,
            replies: Mutex::new(Vec::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if server.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let r = server.into_result();
                panic!("the server stopped at startup: {r:?}");
            }
            let ok = server
                .agent
                .get(format!("{}/healthz", server.base()))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn into_result(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.thread
            .take()
            .expect("thread")
            .join()
            .expect("server thread panicked")
    }

    /// Signals shutdown and waits for `serve` to return.
    pub fn stop(self) -> anyhow::Result<()> {
        self.into_result()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends `method path` (documented as `route`) with `key` and `body`; records the reply.
    pub fn call(
        &self,
        method: &str,
        route: &str,
        path: &str,
        key: Option<&str>,
        body: Body,
    ) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base()));
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let resp = match body {
            Body::None => self.agent.run(req.body(()).expect("request")),
            Body::Json(v) => self.agent.run(
                req.header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&v).expect("json"))
                    .expect("request"),
            ),
            Body::Raw(b) => self.agent.run(
                req.header("Content-Type", "application/octet-stream")
                    .body(b)
                    .expect("request"),
            ),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let json = if content_type.starts_with("application/json") {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        let reply = Reply {
            method: method.to_string(),
            route: route.to_string(),
            status,
            content_type,
            text,
            json,
        };
        self.replies.lock().unwrap().push(reply.clone());
        reply
    }

    /// GET without a body.
    pub fn get(&self, route: &str, path: &str, key: Option<&str>) -> Reply {
        self.call("GET", route, path, key, Body::None)
    }

    /// POST with a JSON body.
    pub fn post(&self, route: &str, path: &str, key: Option<&str>, body: Value) -> Reply {
        self.call("POST", route, path, key, Body::Json(body))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Checks `value` against `schema` of the OpenAPI document `doc` (refs `#/components/...`):
/// `type` (one or a list), `required`, `properties`, `items`, `enum`, `oneOf`/`anyOf`/`allOf`,
/// `additionalProperties` schemas. Appends what does not match to `errors`.
pub fn check_schema(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    if schema == &Value::Bool(true) || schema.as_object().is_some_and(|o| o.is_empty()) {
        return;
    }
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let pointer = r.strip_prefix('#').unwrap_or(r);
        match doc.pointer(pointer) {
            Some(target) => check_schema(doc, target, value, at, errors),
            None => errors.push(format!("{at}: unresolved $ref {r}")),
        }
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let ok = alts.iter().any(|alt| {
                let mut e = Vec::new();
                check_schema(doc, alt, value, at, &mut e);
                e.is_empty()
            });
            if !ok {
                errors.push(format!(
                    "{at}: {value} matches none of {key} {}",
                    Value::Array(alts.clone())
                ));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check_schema(doc, s, value, at, errors);
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            errors.push(format!("{at}: {value} is not of type {t}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!(
            "{at}: {value} is not one of {}",
            Value::Array(options.clone())
        ));
    }
    if let Some(obj) = value.as_object() {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errors.push(format!("{at}: required property '{r}' is missing"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check_schema(doc, s, v, &format!("{at}.{k}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{at}: property '{k}' is not allowed"))
                    }
                    Some(s @ Value::Object(_)) => {
                        check_schema(doc, s, v, &format!("{at}.{k}"), errors)
                    }
                    _ if props.is_some() => {
                        errors.push(format!("{at}: property '{k}' is not documented"))
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check_schema(doc, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Checks every reply against the document: its status must be documented for its route and
/// method, and a JSON body must match that response's schema. Returns what does not.
pub fn check_replies(doc: &Value, replies: &[Reply]) -> Vec<String> {
    let mut errors = Vec::new();
    for r in replies {
        let op = &doc["paths"][&r.route][r.method.to_lowercase()];
        if op.is_null() {
            errors.push(format!("{} {}: route not documented", r.method, r.route));
            continue;
        }
        let resp = &op["responses"][r.status.to_string()];
        if resp.is_null() {
            errors.push(format!(
                "{} {}: status {} not documented (body {})",
                r.method, r.route, r.status, r.text
            ));
            continue;
        }
        if r.content_type.starts_with("application/json") {
            match resp.pointer("/content/application~1json/schema") {
                Some(schema) => check_schema(
                    doc,
                    schema,
                    &r.json,
                    &format!("{} {} {}", r.method, r.route, r.status),
                    &mut errors,
                ),
                None => errors.push(format!(
                    "{} {} {}: JSON body but no JSON schema documented",
                    r.method, r.route, r.status
                )),
            }
        } else if !r.text.is_empty() {
            let ct = r.content_type.split(';').next().unwrap_or("").trim();
            let documented = resp["content"]
                .as_object()
                .is_some_and(|c| c.keys().any(|k| k == ct));
            if !documented {
                errors.push(format!(
                    "{} {} {}: content type {ct} not documented",
                    r.method, r.route, r.status
                ));
            }
        }
    }
    errors
}

/// The JSON of a nonsense body, for negative checks.
pub fn nonsense() -> Value {
    json!({"error": {"code": 5}})
}

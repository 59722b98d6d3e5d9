//! Client mode: every command as a request to a `weft server` (docs/http-api.md), over
//! blocking HTTP ([`ureq`]). This file holds the connection and the dispatch; `workflows`
//! prints runs and histories, `admin` components, namespaces and keys.

mod admin;
mod workflows;

use crate::output::text;
use crate::{Cmd, ListCmd, usage};
use admin::{component, keys, namespace};
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::time::Duration;
use workflows::{follow, history, list_workflows, print_description, result};

/// A connection to one server with one key.
struct Remote {
    agent: ureq::Agent,
    /// `http://host:port`, without a trailing slash.
    base: String,
    key: Option<String>,
}

/// What a request sends.
enum Send {
    Nothing,
    Json(Value),
    Wasm(Vec<u8>),
}

impl Remote {
    fn new(address: &str, key: Option<&str>) -> anyhow::Result<Remote> {
        let address = address.trim().trim_end_matches('/');
        if address.is_empty() {
            return Err(usage("--address is empty"));
        }
        let base = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("weft-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Remote {
            agent,
            base,
            key: key.map(str::to_string),
        })
    }

    /// Sends one request and returns the response if it is a success (2xx); a refusal becomes
    /// an error carrying the server's message.
    fn call(
        &self,
        method: &str,
        path: &str,
        send: Send,
    ) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(key) = &self.key {
            builder = builder.header("Authorization", format!("Bearer {key}"));
        }
        let sent = match send {
            Send::Nothing => self.agent.run(builder.body(())?),
            Send::Json(v) => self.agent.run(
                builder
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&v)?)?,
            ),
            Send::Wasm(bytes) => self.agent.run(
                builder
                    .header("Content-Type", "application/wasm")
                    .body(bytes)?,
            ),
        };
        let mut response = sent.map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| format!("<unreadable body: {e}>"));
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string));
        match message {
            Some(message) => bail!("{message}"),
            None => bail!(
                "{method} {path}: the server answered {status}: {}",
                body.trim()
            ),
        }
    }

    /// A request whose success carries JSON (or nothing: 204 gives `Value::Null`).
    /// The body of a GET as the server sent it (no re-encoding).
    fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let mut response = self.call("GET", path, Send::Nothing)?;
        response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.transport_error(e))
    }

    fn json(&self, method: &str, path: &str, send: Send) -> anyhow::Result<Value> {
        let mut response = self.call(method, path, send)?;
        if response.status().as_u16() == 204 {
            return Ok(Value::Null);
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| self.transport_error(e))?;
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body)
            .with_context(|| format!("{method} {path}: the server's answer is not JSON"))
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.json("GET", path, Send::Nothing)
    }

    fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.json("POST", path, Send::Json(body))
    }

    fn transport_error(&self, e: ureq::Error) -> anyhow::Error {
        let base = &self.base;
        match e {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => anyhow!(
                "cannot reach the weft server at {base}: connection refused (is `weft server` running there?)"
            ),
            ureq::Error::ConnectionFailed => anyhow!(
                "cannot reach the weft server at {base}: connection failed (is `weft server` running there?)"
            ),
            ureq::Error::HostNotFound => {
                anyhow!("cannot reach the weft server at {base}: host not found")
            }
            ureq::Error::BadUri(uri) => {
                usage(format!("--address {base} is not a usable URL: {uri}"))
            }
            other => anyhow!("request to the weft server at {base} failed: {other}"),
        }
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...` of the pairs whose value is present (empty when none is).
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", seg(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn json_arg(input: &str) -> anyhow::Result<Value> {
    serde_json::from_str(input).with_context(|| format!("input is not JSON: {input}"))
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("a JSON value always serializes")
}

/// Runs `command` against the server at `address`.
pub(crate) fn run(
    address: &str,
    key: Option<&str>,
    command: Cmd,
    json: bool,
) -> anyhow::Result<()> {
    let remote = Remote::new(address, key)?;
    let r = &remote;
    match command {
        Cmd::Server(_) | Cmd::Build(_) | Cmd::Replay(_) | Cmd::Simulate(_) => {
            unreachable!("`weft server` and `weft build` are dispatched before the modes")
        }
        Cmd::Reset { .. } => {
            return Err(usage(
                "`weft reset` works offline only, on a database file no host holds (--db FILE, without --address); the HTTP API has no reset",
            ));
        }
        Cmd::Query {
            component: Some(_), ..
        }
        | Cmd::Update {
            component: Some(_), ..
        } => {
            return Err(usage(
                "--component is for offline mode (--db); a server runs the component registered for the workflow's type",
            ));
        }
        Cmd::List(ListCmd { all: true, .. }) => {
            return Err(usage(
                "`list --all` is for offline mode (--db); over HTTP a key sees its own namespace",
            ));
        }
        Cmd::Start {
            workflow_type,
            workflow_id,
            input,
            id_reuse_policy,
            execution_timeout_ms,
            run_timeout_ms,
            task_timeout_ms,
        } => {
            let mut body = json!({
                "workflow_id": workflow_id,
                "workflow_type": workflow_type,
                "input": json_arg(&input)?,
            });
            let fields = [
                ("id_reuse_policy", id_reuse_policy.map(|p| json!(p.wire()))),
                (
                    "execution_timeout_ms",
                    execution_timeout_ms.map(|v| json!(v)),
                ),
                ("run_timeout_ms", run_timeout_ms.map(|v| json!(v))),
                ("task_timeout_ms", task_timeout_ms.map(|v| json!(v))),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let started = r.post("/v1/workflows", body)?;
            if json {
                println!("{}", pretty(&started));
            } else {
                println!("started {workflow_id} (run {})", text(&started, "run_id"));
            }
        }
        Cmd::Result {
            workflow_id,
            wait_ms,
        } => result(r, &workflow_id, wait_ms, json)?,
        Cmd::Describe { workflow_id } => {
            let d = r.get(&format!("/v1/workflows/{}", seg(&workflow_id)))?;
            if json {
                println!("{}", pretty(&d));
            } else {
                print_description(&d);
            }
        }
        Cmd::History {
            workflow_id,
            export: Some(file),
            binary,
            ..
        } => {
            let text = r.get_text(&format!(
                "/v1/workflows/{}/history/export",
                seg(&workflow_id)
            ))?;
            crate::write_history_file(&text, &file, binary)?;
        }
        Cmd::History {
            workflow_id,
            follow: false,
            ..
        } => history(r, &workflow_id, json)?,
        Cmd::History {
            workflow_id,
            follow: true,
            ..
        } => follow(r, &workflow_id, json)?,
        Cmd::List(list) => list_workflows(r, list, json)?,
        Cmd::Signal {
            workflow_id,
            name,
            input,
            start: Some(workflow_type),
            start_input,
        } => {
            let answer = r.post(
                "/v1/signal-with-start",
                json!({
                    "workflow_id": workflow_id,
                    "workflow_type": workflow_type,
                    "input": json_arg(&start_input)?,
                    "signal_name": name,
                    "signal_input": json_arg(&input)?,
                }),
            )?;
            if json {
                println!("{}", pretty(&answer));
            } else {
                println!(
                    "signal-with-start {workflow_id} (run {}) with {name}",
                    text(&answer, "run_id")
                );
            }
        }
        Cmd::Signal {
            workflow_id,
            name,
            input,
            start: None,
            ..
        } => {
            r.post(
                &format!("/v1/workflows/{}/signal", seg(&workflow_id)),
                json!({"name": name, "input": json_arg(&input)?}),
            )?;
            if !json {
                println!("signaled {workflow_id} with {name}");
            }
        }
        Cmd::Cancel {
            workflow_id,
            reason,
        } => {
            r.post(
                &format!("/v1/workflows/{}/cancel", seg(&workflow_id)),
                json!({ "reason": reason }),
            )?;
            if !json {
                println!("cancel requested for {workflow_id}");
            }
        }
        Cmd::Terminate {
            workflow_id,
            reason,
        } => {
            r.post(
                &format!("/v1/workflows/{}/terminate", seg(&workflow_id)),
                json!({ "reason": reason }),
            )?;
            if !json {
                println!("terminated {workflow_id}");
            }
        }
        Cmd::Query {
            workflow_id,
            name,
            input,
            component: None,
        } => {
            let answer = r.post(
                &format!("/v1/workflows/{}/query", seg(&workflow_id)),
                json!({"name": name, "input": json_arg(&input)?}),
            )?;
            if json {
                println!("{}", pretty(&answer));
            } else {
                println!("{}", pretty(&answer["result"]));
            }
        }
        Cmd::Update {
            workflow_id,
            name,
            input,
            component: None,
            id,
            wait_for,
        } => {
            let mut body = json!({
                "name": name,
                "input": json_arg(&input)?,
                "wait_for": wait_for.unwrap_or(crate::WaitFor::Completed).wire(),
            });
            if let Some(id) = id {
                body["update_id"] = json!(id);
            }
            let answer = r.post(&format!("/v1/workflows/{}/update", seg(&workflow_id)), body)?;
            if json {
                println!("{}", pretty(&answer));
            } else if answer["stage"] == "completed" {
                println!("{}", pretty(&answer["result"]));
            } else {
                println!(
                    "update {} accepted; its handler is still running (see `weft history {workflow_id} --follow`)",
                    text(&answer, "update_id")
                );
            }
        }
        Cmd::Component(c) => component(r, c, json)?,
        Cmd::Namespace(n) => namespace(r, n, json)?,
        Cmd::Key(k) => keys(r, k, json)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_queries_are_encoded() {
        assert_eq!(seg("order-7_a.b~"), "order-7_a.b~");
        assert_eq!(seg("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(seg("é"), "%C3%A9");
        assert_eq!(query(&[("a", None), ("b", None)]), "");
        assert_eq!(
            query(&[
                ("a", Some("x y".into())),
                ("b", None),
                ("c", Some("1".into()))
            ]),
            "?a=x%20y&c=1"
        );
    }
}

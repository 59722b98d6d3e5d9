//! Client mode: every command as a request to a `weft server` (docs/http-api.md), over
//! blocking HTTP ([`ureq`]).

use crate::output::{Spinner, compact, print_table, rfc3339_ms, text};
use crate::{Cmd, ComponentCmd, KeyCmd, ListCmd, NamespaceCmd, QuotaArgs, usage};
use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};
use std::io::BufRead;
use std::time::Duration;

/// Event types that close a run: a followed history ends after one of them.
const CLOSING_EVENTS: [&str; 6] = [
    "WorkflowExecutionCompleted",
    "WorkflowExecutionFailed",
    "WorkflowExecutionCanceled",
    "WorkflowExecutionTerminated",
    "WorkflowExecutionContinuedAsNew",
    "WorkflowExecutionTimedOut",
];

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

/// Long-polls the result until the run closes; exits 1 (an error) if it did not complete.
fn result(r: &Remote, workflow_id: &str, wait_ms: u64, json: bool) -> anyhow::Result<()> {
    let spinner = Spinner::start(format!("waiting for {workflow_id}"));
    let path = format!(
        "/v1/workflows/{}/result?wait_ms={wait_ms}",
        seg(workflow_id)
    );
    let answer = loop {
        let answer = r.get(&path)?;
        if answer["done"] == true {
            break answer;
        }
    };
    drop(spinner);
    let status = text(&answer, "status");
    if json {
        println!("{}", pretty(&answer));
    } else if status == "completed" {
        println!("{}", pretty(&answer["result"]));
    }
    if status == "completed" {
        return Ok(());
    }
    let failure = &answer["failure"];
    if failure.is_object() {
        bail!(
            "workflow {workflow_id} {status}: {}: {}",
            text(failure, "error_type"),
            text(failure, "message")
        )
    }
    bail!("workflow {workflow_id} {status}")
}

fn print_description(d: &Value) {
    let line = |label: &str, value: String| println!("{:<15}{value}", format!("{label}:"));
    line("workflow id", text(d, "workflow_id"));
    line("run id", text(d, "run_id"));
    line("type", text(d, "workflow_type"));
    line("status", text(d, "status"));
    line("started", text(d, "start_time"));
    if !d["close_time"].is_null() {
        line("closed", text(d, "close_time"));
    }
    line("events", text(d, "history_length"));
    if d["attempt"].as_u64().is_some_and(|a| a > 1) {
        line("attempt", text(d, "attempt"));
    }
    if !d["pending_workflow_task_attempt"].is_null() {
        line(
            "workflow task",
            format!(
                "pending, attempt {}",
                text(d, "pending_workflow_task_attempt")
            ),
        );
    }
    match &d["last_workflow_task_failure"] {
        Value::Null => {}
        Value::String(s) => line("last task failure", s.clone()),
        other => line("last task failure", compact(other, 400)),
    }
    if d["cancel_requested"] == true {
        line("cancel", "requested".into());
    }
    if !d["parent_workflow_id"].is_null() {
        line("parent", text(d, "parent_workflow_id"));
    }
    if !d["component_digest"].is_null() {
        line("component", text(d, "component_digest"));
    }
    if let Some(chain) = d["run_chain"].as_array()
        && chain.len() > 1
    {
        let runs: Vec<String> = chain
            .iter()
            .map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_string))
            .collect();
        line("runs", runs.join(" -> "));
    }
}

/// The open runs a version check replayed: `ok` names the runs it replays (moved or
/// compatible), then those it would diverge from, with the reason.
fn print_version_report(report: &Value, ok: &str) {
    let ids = |key: &str| -> Vec<String> {
        report[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    };
    let (compatible, unchanged) = (ids("compatible"), ids("unchanged"));
    println!("  {ok}: {}", list_or_none(&compatible));
    if !unchanged.is_empty() {
        println!("  already on it: {}", unchanged.join(", "));
    }
    for d in report["incompatible"].as_array().into_iter().flatten() {
        println!(
            "  would diverge: {}: {}",
            text(d, "workflow_id"),
            text(d, "reason")
        );
    }
}

fn list_or_none(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}

/// One line for an event of the server's JSON: weft's own summary when the event is in weft's
/// serde form, else its id, type and attributes.
fn event_line(event: &Value) -> String {
    if let Ok(e) = serde_json::from_value::<weft::Event>(event.clone()) {
        return e.summary();
    }
    let kind = event
        .get("event_type")
        .or_else(|| event.get("kind"))
        .map(|k| match k {
            Value::String(s) => s.clone(),
            Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let id = event
        .get("event_id")
        .or_else(|| event.get("id"))
        .map(|v| v.to_string())
        .unwrap_or_default();
    let attrs = event.get("attributes").unwrap_or(&Value::Null);
    if attrs.is_null() {
        format!("{id:>5} {kind}")
    } else {
        format!("{id:>5} {kind} {}", compact(attrs, 200))
    }
}

/// The type name of an event of the server's JSON.
fn event_type(event: &Value) -> Option<String> {
    if let Ok(e) = serde_json::from_value::<weft::Event>(event.clone()) {
        return Some(e.kind.name().to_string());
    }
    event
        .get("event_type")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn history(r: &Remote, workflow_id: &str, json: bool) -> anyhow::Result<()> {
    let mut token: Option<String> = None;
    let mut events = Vec::new();
    let run_id = loop {
        let page = r.get(&format!(
            "/v1/workflows/{}/history{}",
            seg(workflow_id),
            query(&[("next_page_token", token.take())])
        ))?;
        let got = page["events"].as_array().cloned().unwrap_or_default();
        if !json {
            for e in &got {
                println!("{}", event_line(e));
            }
        }
        events.extend(got);
        match page["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break page["run_id"].clone(),
        }
    };
    if json {
        let all = json!({"run_id": run_id, "events": events, "next_page_token": null});
        println!("{}", pretty(&all));
    }
    Ok(())
}

/// Prints events from the server's event stream as they are recorded, until the run's
/// closing event. A stream cut before it (a server restart) is resumed after the last event
/// seen.
fn follow(r: &Remote, workflow_id: &str, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut after: u64 = 0;
    let mut cuts = 0;
    loop {
        let response = r.call(
            "GET",
            &format!("/v1/workflows/{}/events?after={after}", seg(workflow_id)),
            Send::Nothing,
        )?;
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        let mut data = String::new();
        let mut name = String::new();
        let mut id: Option<u64> = None;
        let mut closed = false;
        for line in reader.lines() {
            let line = match line {
                Ok(l) => l,
                Err(_) => break, // cut: resumed below
            };
            if line.is_empty() {
                if !data.is_empty() {
                    let event: Value = serde_json::from_str(&data)
                        .with_context(|| format!("an event of the stream is not JSON: {data}"))?;
                    if json {
                        println!("{}", serde_json::to_string(&event)?);
                    } else {
                        println!("{}", event_line(&event));
                    }
                    std::io::stdout().flush()?;
                    if let Some(id) = id {
                        after = after.max(id);
                    }
                    let kind = if name.is_empty() {
                        event_type(&event).unwrap_or_default()
                    } else {
                        name.clone()
                    };
                    closed |= CLOSING_EVENTS.contains(&kind.as_str());
                }
                data.clear();
                name.clear();
                id = None;
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                "event" => name = value.to_string(),
                "id" => id = value.trim().parse().ok(),
                _ => {} // comments (keep-alives) and unknown fields
            }
        }
        if closed {
            return Ok(());
        }
        cuts += 1;
        if cuts > 100 {
            bail!("the event stream of {workflow_id} keeps ending before the run closes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn list_workflows(r: &Remote, list: ListCmd, json: bool) -> anyhow::Result<()> {
    let mut cursor = list.cursor;
    let mut all = Vec::new();
    let mut next: Option<String>;
    loop {
        let page = r.get(&format!(
            "/v1/workflows{}",
            query(&[
                ("status", list.status.clone()),
                ("workflow_type", list.workflow_type.clone()),
                ("limit", list.limit.map(|l| l.to_string())),
                ("cursor", cursor.take()),
            ])
        ))?;
        all.extend(page["workflows"].as_array().cloned().unwrap_or_default());
        next = page["next_cursor"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        match &next {
            Some(c) if list.all_pages => cursor = Some(c.clone()),
            _ => break,
        }
    }
    if json {
        println!(
            "{}",
            pretty(&json!({"workflows": all, "next_cursor": next}))
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|d| {
            vec![
                text(d, "workflow_id"),
                text(d, "workflow_type"),
                text(d, "status"),
                text(d, "start_time"),
                text(d, "close_time"),
                text(d, "run_id"),
            ]
        })
        .collect();
    print_table(
        &[
            "WORKFLOW ID",
            "TYPE",
            "STATUS",
            "STARTED",
            "CLOSED",
            "RUN ID",
        ],
        &rows,
    );
    if let Some(c) = next {
        eprintln!("more workflows: add --cursor {c} (or --all-pages)");
    }
    Ok(())
}

fn component(r: &Remote, c: ComponentCmd, json: bool) -> anyhow::Result<()> {
    match c {
        ComponentCmd::Register {
            workflow_type,
            file,
            move_compatible_runs,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let query = if move_compatible_runs {
                "?move_compatible_runs=true"
            } else {
                ""
            };
            let answer = r.json(
                "POST",
                &format!("/v1/components/{}{query}", seg(&workflow_type)),
                Send::Wasm(bytes),
            )?;
            if json {
                println!("{}", pretty(&answer));
            } else {
                println!(
                    "registered {workflow_type}: {} ({} bytes)",
                    text(&answer, "digest"),
                    text(&answer, "size")
                );
                if !answer["moved"].is_null() {
                    print_version_report(&answer["moved"], "moved");
                }
            }
        }
        ComponentCmd::Check {
            workflow_type,
            file,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let answer = r.json(
                "POST",
                &format!("/v1/components/{}/check", seg(&workflow_type)),
                Send::Wasm(bytes),
            )?;
            if json {
                println!("{}", pretty(&answer));
            } else {
                println!("{workflow_type} {}", text(&answer, "digest"));
                print_version_report(&answer, "compatible");
            }
            let diverging = answer["incompatible"].as_array().map_or(0, Vec::len);
            if diverging > 0 {
                anyhow::bail!("{diverging} open runs would diverge from this version");
            }
        }
        ComponentCmd::List => {
            let answer = r.get("/v1/components")?;
            if json {
                println!("{}", pretty(&answer));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = answer["components"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    vec![
                        text(c, "workflow_type"),
                        text(c, "digest"),
                        text(c, "size"),
                        c["registered_ms"]
                            .as_u64()
                            .map(rfc3339_ms)
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["TYPE", "DIGEST", "SIZE", "REGISTERED"], &rows);
        }
    }
    Ok(())
}

/// The quotas given on the command line, as the API's object (only those given).
fn quotas(q: &QuotaArgs) -> Value {
    let fields = [
        ("max_open_workflows", q.max_open_workflows),
        ("max_history_events", q.max_history_events),
        ("max_history_bytes", q.max_history_bytes),
        ("max_payload_bytes", q.max_payload_bytes),
        (
            "max_concurrent_workflow_tasks",
            q.max_concurrent_workflow_tasks,
        ),
        ("max_stored_bytes", q.max_stored_bytes),
    ];
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), json!(v))))
        .collect();
    Value::Object(map)
}

fn namespace(r: &Remote, n: NamespaceCmd, json: bool) -> anyhow::Result<()> {
    let print = |answer: &Value, human: String| {
        if json {
            if !answer.is_null() {
                println!("{}", pretty(answer));
            }
        } else {
            println!("{human}");
        }
    };
    match n {
        NamespaceCmd::Create { name, quotas: q } => {
            let mut body = json!({ "name": name });
            let q = quotas(&q);
            if q.as_object().is_some_and(|m| !m.is_empty()) {
                body["quotas"] = q;
            }
            let answer = r.post("/v1/namespaces", body)?;
            print(&answer, format!("created namespace {name}"));
        }
        NamespaceCmd::Update { name, quotas: q } => {
            let q = quotas(&q);
            if q.as_object().is_some_and(Map::is_empty) {
                return Err(usage(
                    "give at least one quota to change (see `weft namespace update --help`)",
                ));
            }
            // The route replaces the quotas: keep those not given as they are.
            let mut merged = r.get("/v1/namespaces")?["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["name"] == name.as_str())
                .and_then(|n| n["quotas"].as_object().cloned())
                .unwrap_or_default();
            merged.retain(|_, v| !v.is_null());
            merged.extend(q.as_object().cloned().unwrap_or_default());
            let answer = r.json(
                "PATCH",
                &format!("/v1/namespaces/{}", seg(&name)),
                Send::Json(json!({ "quotas": merged })),
            )?;
            print(&answer, format!("updated namespace {name}"));
        }
        NamespaceCmd::Delete { name } => {
            let answer = r.json(
                "DELETE",
                &format!("/v1/namespaces/{}", seg(&name)),
                Send::Nothing,
            )?;
            print(&answer, format!("deleted namespace {name}"));
        }
        NamespaceCmd::List => {
            let answer = r.get("/v1/namespaces")?;
            if json {
                println!("{}", pretty(&answer));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = answer["namespaces"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    let quotas = n["quotas"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .filter(|(_, v)| !v.is_null())
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .unwrap_or_default();
                    vec![
                        text(n, "name"),
                        text(n, "open_workflows"),
                        text(n, "stored_bytes"),
                        quotas,
                    ]
                })
                .collect();
            print_table(&["NAME", "OPEN WORKFLOWS", "STORED BYTES", "QUOTAS"], &rows);
        }
    }
    Ok(())
}

fn keys(r: &Remote, k: KeyCmd, json: bool) -> anyhow::Result<()> {
    match k {
        KeyCmd::Create {
            ns: namespace,
            label,
        } => {
            let mut body = json!({});
            if let Some(label) = label {
                body["label"] = json!(label);
            }
            let answer = r.post(&format!("/v1/namespaces/{}/keys", seg(&namespace)), body)?;
            if json {
                println!("{}", pretty(&answer));
            } else {
                println!("key id: {}", text(&answer, "key_id"));
                println!("key:    {}", text(&answer, "key"));
                eprintln!("the key is shown this once: store it now");
            }
        }
        KeyCmd::List { ns: namespace } => {
            let answer = r.get(&format!("/v1/namespaces/{}/keys", seg(&namespace)))?;
            if json {
                println!("{}", pretty(&answer));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = answer["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    vec![
                        text(k, "key_id"),
                        text(k, "label"),
                        k["created_ms"].as_u64().map(rfc3339_ms).unwrap_or_default(),
                    ]
                })
                .collect();
            print_table(&["KEY ID", "LABEL", "CREATED"], &rows);
        }
        KeyCmd::Revoke {
            ns: namespace,
            key_id,
        } => {
            r.json(
                "DELETE",
                &format!("/v1/namespaces/{}/keys/{}", seg(&namespace), seg(&key_id)),
                Send::Nothing,
            )?;
            if !json {
                println!("revoked key {key_id} of {namespace}");
            }
        }
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

    #[test]
    fn events_print_in_either_json_form() {
        let weft_form = serde_json::to_value(weft::Event {
            id: weft::EventId(3),
            time_ms: 5,
            kind: weft::EventKind::WorkflowExecutionCompleted {
                result: weft::Payload::json(&json!("ok")),
            },
        })
        .unwrap();
        assert!(event_line(&weft_form).contains("WorkflowExecutionCompleted"));
        assert_eq!(
            event_type(&weft_form).as_deref(),
            Some("WorkflowExecutionCompleted")
        );
        let display_form = json!({"event_id": 4, "event_type": "TimerFired",
            "attributes": {"started_event_id": 3}});
        let line = event_line(&display_form);
        assert!(line.contains("4 TimerFired"), "{line}");
        assert!(line.contains("started_event_id"), "{line}");
        assert_eq!(event_type(&display_form).as_deref(), Some("TimerFired"));
    }
}

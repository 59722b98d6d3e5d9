//! Runs and histories as the server reports them: results, descriptions, histories (once or
//! followed over SSE) and listings.

use super::{Remote, Send, pretty, query, seg};
use crate::ListCmd;
use crate::output::{Spinner, compact, print_table, text};
use anyhow::{Context, bail};
use serde_json::{Value, json};
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

/// Long-polls the result until the run closes; exits 1 (an error) if it did not complete.
pub(super) fn result(
    r: &Remote,
    workflow_id: &str,
    wait_ms: u64,
    json: bool,
) -> anyhow::Result<()> {
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

pub(super) fn print_description(d: &Value) {
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

pub(super) fn history(r: &Remote, workflow_id: &str, json: bool) -> anyhow::Result<()> {
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
pub(super) fn follow(r: &Remote, workflow_id: &str, json: bool) -> anyhow::Result<()> {
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

pub(super) fn list_workflows(r: &Remote, list: ListCmd, json: bool) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

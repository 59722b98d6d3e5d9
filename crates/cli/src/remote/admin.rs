//! Administration over HTTP: components and their versions, namespaces with their quotas,
//! and keys.

use super::{Remote, Send, pretty, seg};
use crate::output::{print_table, rfc3339_ms, text};
use crate::{ComponentCmd, KeyCmd, NamespaceCmd, QuotaArgs, usage};
use anyhow::Context;
use serde_json::{Map, Value, json};

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

pub(super) fn component(r: &Remote, c: ComponentCmd, json: bool) -> anyhow::Result<()> {
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

pub(super) fn namespace(r: &Remote, n: NamespaceCmd, json: bool) -> anyhow::Result<()> {
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

pub(super) fn keys(r: &Remote, k: KeyCmd, json: bool) -> anyhow::Result<()> {
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

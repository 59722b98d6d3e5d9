//! Offline mode: the commands on a database file through [`weft::Offline`].

use crate::{Cmd, ListCmd, usage};
use anyhow::Context;
use std::path::Path;
use weft::{Offline, OfflineUpdate, Payload, WorkflowDescription};

/// What to tell someone who ran a client-only command without `--address`.
fn needs_server(what: &str) -> anyhow::Error {
    usage(format!(
        "{what} needs a weft server: pass --address URL (or set WEFT_ADDRESS); offline mode on --db cannot do it"
    ))
}

fn json_input(input: &str) -> anyhow::Result<Payload> {
    let v: serde_json::Value =
        serde_json::from_str(input).with_context(|| format!("input is not JSON: {input}"))?;
    Ok(Payload::json(&v))
}

/// Runs `command` on the database file `path`, in `namespace`.
pub(crate) fn run(path: &Path, namespace: &str, command: Cmd, json: bool) -> anyhow::Result<()> {
    // Refuse what only a server does before touching the file.
    match &command {
        Cmd::Server(_) | Cmd::Build(_) | Cmd::Replay(_) | Cmd::Simulate(_) => {
            unreachable!("`weft server` and `weft build` are dispatched before the modes")
        }
        Cmd::Start { .. } => return Err(needs_server("`weft start`")),
        Cmd::Result { .. } => return Err(needs_server("`weft result`")),
        Cmd::Component(_) => return Err(needs_server("`weft component`")),
        Cmd::Namespace(_) => return Err(needs_server("`weft namespace`")),
        Cmd::Key(_) => return Err(needs_server("`weft key`")),
        Cmd::History { follow: true, .. } => return Err(needs_server("`weft history --follow`")),
        Cmd::Update {
            wait_for: Some(_), ..
        } => return Err(needs_server("`weft update --wait-for`")),
        Cmd::List(ListCmd {
            status,
            workflow_type,
            limit,
            cursor,
            all_pages,
            ..
        }) if status.is_some()
            || workflow_type.is_some()
            || limit.is_some()
            || cursor.is_some()
            || *all_pages =>
        {
            return Err(needs_server(
                "`weft list` with --status, --type, --limit, --cursor or --all-pages",
            ));
        }
        Cmd::Query {
            component: None, ..
        }
        | Cmd::Update {
            component: None, ..
        } => {
            return Err(usage(
                "offline, a query or update replays the history with the workflow's component: pass --component FILE.wasm (or --address URL to ask a server, which knows the component)",
            ));
        }
        _ => {}
    }
    let db = Offline::new(path, namespace)?;
    match command {
        Cmd::Signal {
            workflow_id,
            name,
            input,
            start: Some(workflow_type),
            start_input,
        } => {
            let (run, started) = db.signal_with_start(
                &workflow_id,
                &workflow_type,
                json_input(&start_input)?,
                &name,
                json_input(&input)?,
            )?;
            let how = if started { "started" } else { "signaled" };
            println!("{how} {workflow_id} ({run}) with {name}");
        }
        Cmd::Signal {
            workflow_id,
            name,
            input,
            start: None,
            ..
        } => {
            let run = db.signal(&workflow_id, &name, json_input(&input)?)?;
            println!("signaled {workflow_id} ({run}) with {name}");
        }
        Cmd::Cancel {
            workflow_id,
            reason,
        } => {
            let run = db.cancel(&workflow_id, &reason)?;
            println!("cancel requested for {workflow_id} ({run})");
        }
        Cmd::Terminate {
            workflow_id,
            reason,
        } => {
            let run = db.terminate(&workflow_id, &reason)?;
            println!("terminated {workflow_id} ({run})");
        }
        Cmd::Reset {
            workflow_id,
            event,
            no_reapply_signals,
            reason,
        } => {
            let run = db.reset(&workflow_id, event, !no_reapply_signals, &reason)?;
            println!("reset {workflow_id}: new run {run}");
        }
        Cmd::Update {
            workflow_id,
            name,
            input,
            component: Some(component),
            id,
            ..
        } => match db.update(&workflow_id, &name, json_input(&input)?, component, id)? {
            OfflineUpdate::Completed(result) => println!("{}", result.to_json()),
            OfflineUpdate::Accepted { update_id } => println!(
                "update {update_id} accepted; its handler waits for work a host will run (see `weft history {workflow_id}`)"
            ),
        },
        Cmd::Describe { workflow_id } => {
            note(&db, path)?;
            let d = db.describe(&workflow_id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
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
            note(&db, path)?;
            let (run, events) = db.history(&workflow_id)?;
            let history =
                weft::history::HistoryFile::new(namespace, &workflow_id, &run.to_string(), events);
            crate::write_history_file(&history.to_json(), &file, binary)?;
        }
        Cmd::History { workflow_id, .. } => {
            note(&db, path)?;
            let (run, events) = db.history(&workflow_id)?;
            if json {
                let all: Vec<_> = events.iter().map(|e| e.to_json(run)).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for e in &events {
                    println!("{}", e.summary());
                }
            }
        }
        Cmd::List(ListCmd { all, .. }) => {
            note(&db, path)?;
            let listed = db.list(all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                for d in listed {
                    println!(
                        "{}\t{}\t{}\t{}\t{:?}",
                        d.namespace, d.workflow_id, d.run_id, d.workflow_type, d.status
                    );
                }
            }
        }
        Cmd::Query {
            workflow_id,
            name,
            input,
            component: Some(component),
        } => {
            note(&db, path)?;
            let answer = db.query(&workflow_id, &name, json_input(&input)?, component)?;
            println!("{}", answer.to_json());
        }
        Cmd::Server(_)
        | Cmd::Build(_)
        | Cmd::Replay(_)
        | Cmd::Simulate(_)
        | Cmd::Start { .. }
        | Cmd::Result { .. }
        | Cmd::Component(_)
        | Cmd::Namespace(_)
        | Cmd::Key(_)
        | Cmd::Query {
            component: None, ..
        }
        | Cmd::Update {
            component: None, ..
        } => unreachable!("refused above"),
    }
    Ok(())
}

/// Tells on stderr when reads come from a recovered copy.
fn note(db: &Offline, path: &Path) -> anyhow::Result<()> {
    if let Some(why) = db.read_note()? {
        eprintln!(
            "note: {} {why}; read from a recovered copy, the file itself was not changed (a host started on it recovers it in place)",
            path.display()
        );
    }
    Ok(())
}

fn print_description(d: &WorkflowDescription) {
    println!("namespace:     {}", d.namespace);
    println!("workflow id:   {}", d.workflow_id);
    println!("run id:        {}", d.run_id);
    println!("type:          {}", d.workflow_type);
    println!("status:        {:?}", d.status);
    println!("started (ms):  {}", d.start_ms);
    if let Some(c) = d.close_ms {
        println!("closed (ms):   {c}");
    }
    println!("events:        {}", d.history_length);
    if let Some(a) = d.pending_workflow_task_attempt {
        println!("workflow task: pending, attempt {a}");
    }
    if let Some(f) = &d.last_workflow_task_failure {
        println!("last task failure: {f}");
    }
    if d.attempt > 1 {
        println!("attempt:       {}", d.attempt);
    }
    if d.cancel_requested {
        println!("cancel:        requested");
    }
    if let Some(p) = &d.parent_workflow_id {
        println!("parent:        {p}");
    }
    if !d.open_children.is_empty() {
        println!("children:      {}", d.open_children.join(", "));
    }
    if d.run_chain.len() > 1 {
        println!("runs:          {}", d.run_chain.join(" -> "));
    }
}

//! The `weft` command line: inspect and drive workflows in a weft database.
//!
//! `describe`, `history`, `list` and `query` read the database file directly (a running host
//! may keep writing it) and never write it: a file a crash left unclean, or an earlier release
//! wrote, is read through a recovered copy. `signal`, `cancel`, `terminate`, `reset` and `update` write
//! it, so they need the file not to be held by a host; a host started later carries on from
//! what they recorded. No command creates a database: a missing or empty file is refused, and
//! a refused command leaves the file as it was. Exit codes: 0 on success, 1 on a runtime error (unknown workflow, unreadable
//! database, rejected update), 2 on bad usage.

use crate::api::WorkflowDescription;
use crate::history::{EventKind, Payload};
use crate::ids::{Namespace, WorkflowId};
use crate::limits::Limits;
use crate::replay::{QueryRequest, Served, UpdateRequest, UpdateState};
use crate::sandbox::Sandbox;
use crate::store::{ReadOnlyStore, ResetRequest, RunRecord, StartQuota, StartRequest, Store};
use crate::workflow_task::{TaskEnv, TaskOutcome, now_ms, query_history, run_update_task};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "Inspect and drive workflows in a weft database"
)]
struct Cli {
    /// The database file.
    #[arg(long, global = true, default_value = "weft.redb", env = "WEFT_DB")]
    db: PathBuf,
    /// The namespace the workflow ids belong to.
    #[arg(
        long,
        short = 'n',
        global = true,
        default_value = "default",
        env = "WEFT_NAMESPACE"
    )]
    namespace: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Status of a workflow's current run.
    Describe {
        /// Workflow id.
        workflow_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Event history of a workflow's current run.
    History {
        /// Workflow id.
        workflow_id: String,
        /// Print JSON (one array of events).
        #[arg(long)]
        json: bool,
    },
    /// Every workflow of the namespace with the status of its current run.
    List {
        /// List every namespace.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a signal to a running workflow; with `--start TYPE`, signal-with-start: start the
    /// workflow with the signal if it is not running (needs the file not held by a host).
    Signal {
        /// Workflow id.
        workflow_id: String,
        /// Signal name.
        name: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// Signal-with-start: the workflow type to start when the id is not running.
        #[arg(long)]
        start: Option<String>,
        /// Signal-with-start: the workflow's input as JSON.
        #[arg(long, default_value = "null", allow_hyphen_values = true)]
        start_input: String,
    },
    /// Request cancellation of a running workflow (needs the file not held by a host).
    Cancel {
        /// Workflow id.
        workflow_id: String,
        /// Why.
        #[arg(long, default_value = "canceled from the command line")]
        reason: String,
    },
    /// Terminate a running workflow at once (needs the file not held by a host).
    Terminate {
        /// Workflow id.
        workflow_id: String,
        /// Why.
        #[arg(long, default_value = "terminated from the command line")]
        reason: String,
    },
    /// Reset a workflow to a completed Workflow Task (needs the file not held by a host): its
    /// current run is terminated if open and a new run gets the history up to that task, which
    /// runs again on the code the next host runs. Prints the new run id.
    Reset {
        /// Workflow id.
        workflow_id: String,
        /// Event id of a WorkflowTaskCompleted (default: the last good task).
        #[arg(long)]
        event: Option<u64>,
        /// Do not deliver the signals recorded after the reset point to the new run.
        #[arg(long)]
        no_reapply_signals: bool,
        /// Why.
        #[arg(long, default_value = "reset from the command line")]
        reason: String,
    },
    /// Answer a query by replaying the workflow's history with its component. Records
    /// nothing; works while a host runs.
    Query {
        /// Workflow id.
        workflow_id: String,
        /// Query name.
        name: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// The workflow's component (.wasm).
        #[arg(long)]
        component: PathBuf,
    },
    /// Send an update: its validator runs now; an accepted update is recorded and its result
    /// printed if the handler finished, otherwise a host completes it (needs the file not
    /// held by a host).
    Update {
        /// Workflow id.
        workflow_id: String,
        /// Update name.
        name: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// The workflow's component (.wasm).
        #[arg(long)]
        component: PathBuf,
        /// Update id (a repeated id is the same update).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Runs the `weft` command line with the process's arguments and exits with its code.
pub fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn json_input(input: &str) -> anyhow::Result<Payload> {
    let v: serde_json::Value =
        serde_json::from_str(input).with_context(|| format!("input is not JSON: {input}"))?;
    Ok(Payload::json(&v))
}

/// Task queues and Nexus operations the history uses: what a replay may name again.
fn served_by(history: &[crate::history::Event]) -> Arc<Served> {
    let mut served = Served {
        task_queues: HashSet::from([crate::history::DEFAULT_TASK_QUEUE.to_string()]),
        nexus_operations: HashSet::new(),
        ..Served::default()
    };
    for e in history {
        match &e.kind {
            EventKind::ActivityTaskScheduled { task_queue, .. } => {
                served.task_queues.insert(task_queue.clone());
            }
            EventKind::NexusOperationScheduled {
                endpoint,
                service,
                operation,
                ..
            } => {
                served.nexus_operations.insert((
                    endpoint.clone(),
                    service.clone(),
                    operation.clone(),
                ));
            }
            _ => {}
        }
    }
    Arc::new(served)
}

/// Commands that write the database.
fn write(cli: &Cli, ns: &Namespace) -> anyhow::Result<bool> {
    // A refused command changes nothing on disk: a missing or empty file is refused, not
    // created, and the workflow is checked read-only before the file is opened for writing.
    let open = || {
        Store::open_existing(&cli.db, now_ms())
            .with_context(|| format!("cannot open {}", cli.db.display()))
    };
    let ensure_running = |id: &str, run: crate::ids::RunId, rec: &RunRecord| {
        anyhow::ensure!(
            !rec.status.is_closed(),
            "workflow {id} is not running: its current run {run} is {:?}",
            rec.status
        );
        Ok(())
    };
    let running = |store: &Store, id: &str| -> anyhow::Result<crate::ids::RunId> {
        let (run, rec) = store.current_run(ns, &WorkflowId(id.to_string()))?;
        ensure_running(id, run, &rec)?;
        Ok(run)
    };
    let check_running = |id: &str| -> anyhow::Result<RunRecord> {
        let reader = ReadOnlyStore::open(&cli.db)
            .with_context(|| format!("cannot open {}", cli.db.display()))?;
        let (run, rec) = reader.current_run(ns, &WorkflowId(id.to_string()))?;
        ensure_running(id, run, &rec)?;
        Ok(rec)
    };
    match &cli.command {
        Cmd::Signal {
            workflow_id,
            name,
            input,
            start: Some(workflow_type),
            start_input,
        } => {
            let req = StartRequest {
                namespace: Some(ns.clone()),
                workflow_id: WorkflowId(workflow_id.clone()),
                workflow_type: workflow_type.clone(),
                input: json_input(start_input)?,
                random_seed: rand::random(),
                options: Default::default(),
                id_reuse_policy: Default::default(),
                signal: Some((name.clone(), json_input(input)?)),
            };
            let store = open()?;
            let (run, started) =
                store.start_workflow_with(&req, now_ms(), StartQuota::UNLIMITED, None)?;
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
            let input = json_input(input)?;
            check_running(workflow_id)?;
            let store = open()?;
            let run = running(&store, workflow_id)?;
            store.signal(run, name, input, now_ms())?;
            println!("signaled {workflow_id} ({run}) with {name}");
        }
        Cmd::Cancel {
            workflow_id,
            reason,
        } => {
            check_running(workflow_id)?;
            let store = open()?;
            let run = running(&store, workflow_id)?;
            store.request_cancel(run, reason, now_ms())?;
            println!("cancel requested for {workflow_id} ({run})");
        }
        Cmd::Terminate {
            workflow_id,
            reason,
        } => {
            check_running(workflow_id)?;
            let store = open()?;
            let run = running(&store, workflow_id)?;
            store.terminate(run, reason, now_ms())?;
            println!("terminated {workflow_id} ({run})");
        }
        Cmd::Reset {
            workflow_id,
            event,
            no_reapply_signals,
            reason,
        } => {
            let id = WorkflowId(workflow_id.clone());
            ReadOnlyStore::open(&cli.db)
                .with_context(|| format!("cannot open {}", cli.db.display()))?
                .current_run(ns, &id)?;
            let store = open()?;
            let req = ResetRequest {
                namespace: ns.clone(),
                workflow_id: id,
                event_id: event.map(crate::ids::EventId),
                reapply_signals: !no_reapply_signals,
                reason: reason.clone(),
            };
            let run = store.reset(&req, now_ms())?;
            println!("reset {workflow_id}: new run {run}");
        }
        Cmd::Update {
            workflow_id,
            name,
            input,
            component,
            id,
        } => {
            let input = json_input(input)?;
            // The component is compiled before the file is opened for writing.
            let checked = check_running(workflow_id)?;
            let limits = Limits::default();
            let sandbox = Sandbox::new(limits.clone()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let compiled = sandbox.compile_file(&checked.workflow_type, component)?;
            let store = open()?;
            let run = running(&store, workflow_id)?;
            let (rec, history) = store.load_run(run)?;
            anyhow::ensure!(
                rec.workflow_type == checked.workflow_type,
                "workflow {workflow_id} changed while the update was prepared; try again"
            );
            let workflows = HashMap::from([(rec.workflow_type.clone(), compiled)]);
            let served = served_by(&history);
            let env = TaskEnv {
                store: &store,
                sandbox: &sandbox,
                workflows: &workflows,
                limits: &limits,
                served: &served,
                cache: None,
                probe: None,
            };
            let update_id = id
                .clone()
                .unwrap_or_else(|| crate::ids::RunId::random().to_string());
            let update = UpdateRequest {
                id: update_id.clone(),
                name: name.clone(),
                input,
            };
            let (outcome, state) = run_update_task(&env, run, update)?;
            match (outcome, state) {
                (_, UpdateState::Rejected(f)) => anyhow::bail!("update rejected: {f}"),
                (TaskOutcome::Failed { message, .. }, _) => {
                    anyhow::bail!("the workflow task failed: {message}")
                }
                (TaskOutcome::Completed(_), UpdateState::Accepted) => {
                    let (_, history) = store.load_run(run)?;
                    let done = history.iter().find_map(|e| match &e.kind {
                        EventKind::WorkflowExecutionUpdateCompleted {
                            update_id: u,
                            result,
                            failure,
                        } if *u == update_id => Some((result.clone(), failure.clone())),
                        _ => None,
                    });
                    match done {
                        Some((_, Some(f))) => anyhow::bail!("update failed: {f}"),
                        Some((r, None)) => {
                            println!("{}", r.unwrap_or_default().to_json());
                        }
                        None => println!(
                            "update {update_id} accepted; its handler waits for work a host will run (see `weft history {workflow_id}`)"
                        ),
                    }
                }
                (other, state) => anyhow::bail!(
                    "the update was not delivered ({other:?}, {state:?}); is the workflow waiting?"
                ),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ns = Namespace::new(&cli.namespace).map_err(anyhow::Error::msg)?;
    if write(&cli, &ns)? {
        return Ok(());
    }
    let store = ReadOnlyStore::open(&cli.db)
        .with_context(|| format!("cannot open {}", cli.db.display()))?;
    if let Some(why) = store.copy_reason() {
        eprintln!(
            "note: {} {why}; read from a recovered copy, the file itself was not changed (a host started on it recovers it in place)",
            cli.db.display()
        );
    }
    match cli.command {
        Cmd::Describe { workflow_id, json } => {
            let (run, rec, _) = store.workflow(&ns, &WorkflowId(workflow_id))?;
            let d = WorkflowDescription::new(run, &rec).with_chain(&rec, |r| store.run(r).ok());
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
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
        }
        Cmd::History { workflow_id, json } => {
            let (run, _, events) = store.workflow(&ns, &WorkflowId(workflow_id))?;
            if json {
                let all: Vec<_> = events.iter().map(|e| e.to_json(run)).collect();
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for e in &events {
                    println!("{}", e.summary());
                }
            }
        }
        Cmd::List { all, json } => {
            let all = store.list((!all).then_some(&ns))?;
            if json {
                let v: Vec<_> = all
                    .iter()
                    .map(|(_, run, rec)| WorkflowDescription::new(*run, rec))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (id, run, rec) in all {
                    println!(
                        "{}\t{id}\t{run}\t{}\t{:?}",
                        rec.namespace, rec.workflow_type, rec.status
                    );
                }
            }
        }
        Cmd::Query {
            workflow_id,
            name,
            input,
            component,
        } => {
            let input = json_input(&input)?;
            let (run, rec, history) = store.workflow(&ns, &WorkflowId(workflow_id))?;
            let limits = Limits::default();
            let sandbox = Sandbox::new(limits.clone()).map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let compiled = sandbox.compile_file(&rec.workflow_type, &component)?;
            let query = QueryRequest { name, input };
            let served = served_by(&history);
            match query_history(
                &sandbox, &compiled, &limits, &served, run, &rec, &history, query,
            ) {
                Ok(Ok(answer)) => println!("{}", answer.to_json()),
                Ok(Err(f)) => anyhow::bail!("query failed: {f}"),
                Err(msg) => anyhow::bail!("query failed: {msg}"),
            }
        }
        Cmd::Signal { .. }
        | Cmd::Cancel { .. }
        | Cmd::Terminate { .. }
        | Cmd::Reset { .. }
        | Cmd::Update { .. } => {
            unreachable!("handled by write")
        }
    }
    Ok(())
}

//! The `weft` command line: inspect and drive workflows in a weft database, a thin layer of
//! argument parsing and printing over [`weft::Offline`].
//!
//! `describe`, `history`, `list` and `query` read the database file directly (a running host
//! may keep writing it) and never write it: a file a crash left unclean, or an earlier release
//! wrote, is read through a recovered copy. `signal`, `cancel`, `terminate`, `reset` and
//! `update` write it, so they need the file not to be held by a host; a host started later
//! carries on from what they recorded. No command creates a database: a missing or empty file
//! is refused, and a refused command leaves the file as it was. Exit codes: 0 on success, 1 on
//! a runtime error (unknown workflow, unreadable database, rejected update), 2 on bad usage.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use weft::{Offline, OfflineUpdate, Payload, WorkflowDescription};

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

fn run(cli: Cli) -> anyhow::Result<()> {
    let db = Offline::new(&cli.db, &cli.namespace)?;
    match cli.command {
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
            component,
            id,
        } => match db.update(&workflow_id, &name, json_input(&input)?, component, id)? {
            OfflineUpdate::Completed(result) => println!("{}", result.to_json()),
            OfflineUpdate::Accepted { update_id } => println!(
                "update {update_id} accepted; its handler waits for work a host will run (see `weft history {workflow_id}`)"
            ),
        },
        Cmd::Describe { workflow_id, json } => {
            note(&db, &cli.db)?;
            let d = db.describe(&workflow_id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print_description(&d);
            }
        }
        Cmd::History { workflow_id, json } => {
            note(&db, &cli.db)?;
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
        Cmd::List { all, json } => {
            note(&db, &cli.db)?;
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
            component,
        } => {
            note(&db, &cli.db)?;
            let answer = db.query(&workflow_id, &name, json_input(&input)?, component)?;
            println!("{}", answer.to_json());
        }
    }
    Ok(())
}

/// Tells on stderr when reads come from a recovered copy.
fn note(db: &Offline, path: &std::path::Path) -> anyhow::Result<()> {
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

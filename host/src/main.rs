//! `weft`: inspect a weft database from the command line.
//!
//! Reads the database file directly (a running host may keep writing it). Exit codes: 0 on
//! success, 1 on a runtime error (unknown workflow, unreadable database), 2 on bad usage.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use weft::api::WorkflowDescription;
use weft::ids::{Namespace, WorkflowId};
use weft::store::ReadOnlyStore;

#[derive(Parser)]
#[command(name = "weft", version, about = "Inspect workflows in a weft database")]
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
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ns = Namespace::new(&cli.namespace).map_err(anyhow::Error::msg)?;
    let store = ReadOnlyStore::open(&cli.db)
        .with_context(|| format!("cannot open {}", cli.db.display()))?;
    match cli.command {
        Cmd::Describe { workflow_id, json } => {
            let (run, rec, _) = store.workflow(&ns, &WorkflowId(workflow_id))?;
            let d = WorkflowDescription::new(run, &rec);
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
    }
    Ok(())
}

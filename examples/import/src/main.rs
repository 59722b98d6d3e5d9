//! Runs the import workflow: one long activity that heartbeats a checkpoint every 10 rows.
//! With `--fail-at ROW` its first attempt fails at that row; the retry resumes from the last
//! checkpoint instead of row 0. Kill the process (`kill -9`) while it runs and start it again
//! with the same `--db` and `--id`: the import continues from its last heartbeat.
//!
//! Usage: `cargo run -p import-example -- [--db FILE] [--id ID] [--rows N] [--fail-at ROW]`

use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use weft::{ActivityContext, ActivityError, HostBuilder, WorkflowOutcome};

#[derive(Deserialize)]
struct Rows {
    file: String,
    rows: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "weft=error".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let db = arg("--db").unwrap_or_else(|| "import.redb".into());
    let id = arg("--id").unwrap_or_else(|| "import-1".into());
    let rows: u64 = arg("--rows").map_or(Ok(100), |v| v.parse())?;
    let fail_at: Option<u64> = arg("--fail-at").map(|v| v.parse()).transpose()?;

    let host = HostBuilder::new(&db)
        .workflow_file("import", env!("IMPORT_WORKFLOW_WASM"))
        .activity(
            "import_rows",
            move |ctx: ActivityContext, input: Rows| async move {
                let from: u64 = ctx.heartbeat_details().unwrap_or(0);
                println!(
                    "  [activity] attempt {} of {}: starting at row {from}",
                    ctx.attempt, input.file
                );
                for row in from..input.rows {
                    tokio::time::sleep(Duration::from_millis(20)).await; // "import" one row
                    if ctx.attempt == 1 && Some(row) == fail_at {
                        println!("  [activity] attempt 1 fails at row {row}");
                        return Err(ActivityError::retryable(
                            "ConnectionReset",
                            "the database went away",
                        ));
                    }
                    if (row + 1) % 10 == 0 {
                        // Checkpoint: the next attempt starts after this row.
                        ctx.heartbeat(&(row + 1)).await?;
                    }
                }
                Ok(json!({"rows": input.rows, "attempts": ctx.attempt, "resumed_at": from}))
            },
        )
        .start()
        .await?;

    match host.describe(&id) {
        Ok(d) if d.status == weft::RunStatus::Running => {
            println!("workflow {id} is still running in {db}: continuing it");
        }
        _ => {
            println!("starting workflow {id} (database {db})");
            host.start_workflow(
                "import",
                &id,
                json!({"file": "customers.csv", "rows": rows}),
            )
            .await?;
        }
    }
    match host.result(&id).await? {
        WorkflowOutcome::Completed(v) => println!("result: {v}"),
        WorkflowOutcome::Failed(f) => println!("failed: {f}"),
    }
    println!("history:");
    for e in host.history(&id)? {
        println!("  {}", e.summary());
    }
    host.shutdown().await;
    Ok(())
}

//! A tour of workflow semantics beyond activities, one demo per subcommand:
//!
//! - `approval`: queries, an update rejected by its validator and one accepted, a signal.
//! - `fanout`: a parent starts child workflows in parallel and sums their results.
//! - `batch`: a long loop that continues as new runs to keep each history short.
//! - `trip`: a booking saga canceled half way; it undoes what it booked and ends as canceled.
//!
//! Usage: `cargo run -p tour-example -- <approval|fanout|batch|trip> [--db FILE]`

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use std::time::Duration;
use weft::{ActivityContext, ActivityError, Client, Host, HostBuilder, WorkflowOutcome};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    demo: Demo,
    /// Database file (default: a new temporary one).
    #[arg(long, global = true)]
    db: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Clone, Copy)]
enum Demo {
    /// Signals, queries and updates on an expense approval.
    Approval,
    /// Child workflows.
    Fanout,
    /// Continue-as-new.
    Batch,
    /// Cancellation with compensation.
    Trip,
}

async fn host(db: &std::path::Path) -> anyhow::Result<Host> {
    let host = HostBuilder::new(db)
        .workflow_file("approval", env!("APPROVAL_WASM"))
        .workflow_file("fanout", env!("FANOUT_WASM"))
        .workflow_file("fanout-part", env!("FANOUT_WASM"))
        .workflow_file("batch", env!("BATCH_WASM"))
        .workflow_file("trip", env!("TRIP_WASM"))
        .activity("pay", |_c: ActivityContext, v: Value| async move {
            Ok::<_, ActivityError>(format!(
                "payment of {} cents for {}",
                v["amount_cents"], v["id"]
            ))
        })
        .activity("square", |_c: ActivityContext, k: u64| async move {
            Ok::<_, ActivityError>(k * k)
        })
        .activity("process", |_c: ActivityContext, v: Value| async move {
            let (from, to) = (
                v["from"].as_u64().unwrap_or(0),
                v["to"].as_u64().unwrap_or(0),
            );
            Ok::<_, ActivityError>((from..to).sum::<u64>())
        })
        .activity(
            "book_flight",
            |_c: ActivityContext, who: String| async move {
                Ok::<_, ActivityError>(format!("flight for {who}"))
            },
        )
        .activity(
            "book_hotel",
            |_c: ActivityContext, who: String| async move {
                Ok::<_, ActivityError>(format!("hotel for {who}"))
            },
        )
        // Slow: the trip is canceled while this runs; it notices through its heartbeats.
        .activity("book_car", |ctx: ActivityContext, who: String| async move {
            for _ in 0..100 {
                ctx.heartbeat(&()).await?;
                if ctx.is_cancel_requested() {
                    return Err(ActivityError::canceled("car booking stopped"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(format!("car for {who}"))
        })
        .activity(
            "cancel_flight",
            |_c: ActivityContext, b: String| async move {
                Ok::<_, ActivityError>(format!("undone: {b}"))
            },
        )
        .activity(
            "cancel_hotel",
            |_c: ActivityContext, b: String| async move {
                Ok::<_, ActivityError>(format!("undone: {b}"))
            },
        )
        .activity("cancel_car", |_c: ActivityContext, b: String| async move {
            Ok::<_, ActivityError>(format!("undone: {b}"))
        })
        .start()
        .await?;
    Ok(host)
}

fn print_history(c: &Client, id: &str) -> anyhow::Result<()> {
    println!("history of {id}:");
    for e in c.history(id)? {
        println!("  {}", e.summary());
    }
    Ok(())
}

fn print_outcome(id: &str, outcome: &WorkflowOutcome) {
    match outcome {
        WorkflowOutcome::Completed(v) => println!("{id} completed: {v}"),
        WorkflowOutcome::Failed(f) => println!("{id} ended: {f}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "weft=error".into()),
        )
        .init();
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!("weft-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = args.db.clone().unwrap_or_else(|| dir.join("tour.redb"));
    let host = host(&db).await?;
    let c = host.namespace("default")?;
    match args.demo {
        Demo::Approval => {
            let id = "expense-17";
            c.start_workflow("approval", id, json!({"id": id, "amount_cents": 12_000}))
                .await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            println!(
                "query status: {}",
                c.query(id, "status", json!(null)).await?
            );
            match c.update(id, "set_amount", json!(0)).await {
                Err(e) => println!("update set_amount(0): {e}"),
                Ok(v) => println!("update set_amount(0) unexpectedly accepted: {v}"),
            }
            println!(
                "update set_amount(9900): {}",
                c.update(id, "set_amount", json!(9_900)).await?
            );
            println!(
                "query status: {}",
                c.query(id, "status", json!(null)).await?
            );
            c.signal(id, "decide", json!({"approved": true, "by": "dana"}))
                .await?;
            print_outcome(id, &c.result(id).await?);
            println!(
                "query status after close: {}",
                c.query(id, "status", json!(null)).await?
            );
            print_history(&c, id)?;
        }
        Demo::Fanout => {
            let id = "fan-1";
            c.start_workflow("fanout", id, json!({"parts": 4})).await?;
            print_outcome(id, &c.result(id).await?);
            print_history(&c, id)?;
            print_history(&c, "fan-1-part-2")?;
        }
        Demo::Batch => {
            let id = "batch-1";
            let input =
                json!({"next": 0, "total": 1000, "batch": 100, "batches_per_run": 3, "sum": 0});
            c.start_workflow("batch", id, input).await?;
            print_outcome(id, &c.result(id).await?);
            let d = c.describe(id)?;
            println!("runs ({}): {}", d.run_chain.len(), d.run_chain.join(" -> "));
            print_history(&c, id)?;
        }
        Demo::Trip => {
            let id = "trip-1";
            c.start_workflow("trip", id, json!("ada")).await?;
            // Cancel while the car is being booked.
            loop {
                let booking_car = c.history(id)?.iter().any(|e| {
                    matches!(&e.kind, weft::EventKind::ActivityTaskScheduled { activity_type, .. } if activity_type == "book_car")
                });
                if booking_car {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.cancel(id, "ada changed her plans").await?;
            print_outcome(id, &c.result(id).await?);
            println!("status: {:?}", c.describe(id)?.status);
            print_history(&c, id)?;
        }
    }
    drop(c);
    host.shutdown().await;
    if args.db.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

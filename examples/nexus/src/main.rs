//! Runs a checkout workflow that calls the Nexus operation `payments/charge/run`. The
//! operation is the built-in workflow operation: it starts a `charge` workflow (id derived
//! from the Nexus request id, so a redelivered start finds it instead of charging twice) and
//! completes with that workflow's result.
//!
//! Usage: `cargo run -p nexus-example -- [--db FILE] [--id ID]`

use serde::Deserialize;
use serde_json::json;
use weft::{ActivityContext, ActivityError, EventKind, HostBuilder, WorkflowOutcome};

#[derive(Deserialize)]
struct Charge {
    order_id: String,
    amount_cents: u64,
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
    let db = arg("--db").unwrap_or_else(|| "nexus.redb".into());
    let id = arg("--id").unwrap_or_else(|| {
        format!(
            "checkout-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        )
    });

    let host = HostBuilder::new(&db)
        .namespace("default", |ns| {
            ns.workflow_file("checkout", env!("CHECKOUT_WORKFLOW_WASM"))
                .workflow_file("charge", env!("CHARGE_WORKFLOW_WASM"))
                .nexus_workflow_operation("payments", "charge", "run", "charge")
                .activity(
                    "charge_card",
                    |ctx: ActivityContext, c: Charge| async move {
                        println!(
                            "  [activity] charge {} cents for {} (workflow {})",
                            c.amount_cents, c.order_id, ctx.workflow_id
                        );
                        Ok::<_, ActivityError>(format!("ch-{}", c.order_id))
                    },
                )
        })
        .start()
        .await?;

    println!("starting checkout {id} (database {db})");
    host.start_workflow(
        "checkout",
        &id,
        json!({"order_id": id, "amount_cents": 4200}),
    )
    .await?;
    match host.result(&id).await? {
        WorkflowOutcome::Completed(v) => println!("result: {v}"),
        WorkflowOutcome::Failed(f) => println!("failed: {f}"),
    }
    let history = host.history(&id)?;
    println!("checkout history:");
    for e in &history {
        println!("  {}", e.summary());
    }
    let child = history.iter().find_map(|e| match &e.kind {
        EventKind::NexusOperationStarted {
            operation_token, ..
        } => Some(operation_token.clone()),
        _ => None,
    });
    if let Some(child) = child {
        println!("charge workflow {child} (started by the Nexus operation):");
        for e in host.history(&child)? {
            println!("  {}", e.summary());
        }
    }
    host.shutdown().await;
    Ok(())
}

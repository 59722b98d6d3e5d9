//! Runs the order workflow: reserve inventory and charge the card concurrently, wait on a
//! durable timer, ship. A declined card (`--decline`) takes the failure path: the reservation
//! is released and the workflow fails.
//!
//! Usage: `cargo run -p order-example -- [--db FILE] [--id ORDER_ID] [--decline]`

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use weft::{ActivityContext, ActivityError, HostBuilder, WorkflowOutcome};

#[derive(Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
}

#[derive(Deserialize)]
struct ReserveInput {
    order_id: String,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct ChargeInput {
    order_id: String,
    card_number: String,
    amount_cents: u64,
}

#[derive(Deserialize)]
struct ReleaseInput {
    reservation_id: String,
}

#[derive(Deserialize)]
struct ShipInput {
    order_id: String,
    reservation_id: String,
}

#[derive(Serialize)]
struct Empty {}

static NEXT: AtomicU64 = AtomicU64::new(1);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "weft=warn,weft::guest=info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let db = arg("--db").unwrap_or_else(|| "order.redb".into());
    let decline = args.iter().any(|a| a == "--decline");
    let order_id = arg("--id").unwrap_or_else(|| {
        format!(
            "order-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        )
    });

    let host = HostBuilder::new(&db)
        .workflow_file("order", env!("ORDER_WORKFLOW_WASM"))
        .activity("reserve_inventory", |ctx: ActivityContext, input: ReserveInput| async move {
            let units: u32 = input.items.iter().map(|i| i.quantity).sum();
            let skus: Vec<&str> = input.items.iter().map(|i| i.sku.as_str()).collect();
            println!("  [activity] reserve {units} units of {skus:?} for {} (key {})", input.order_id, ctx.idempotency_key());
            Ok::<_, ActivityError>(json!({"reservation_id": format!("rsv-{}", NEXT.fetch_add(1, Ordering::Relaxed))}))
        })
        .activity("charge_card", |_ctx: ActivityContext, input: ChargeInput| async move {
            println!("  [activity] charge {} cents for {}", input.amount_cents, input.order_id);
            if input.card_number.starts_with("4000") {
                return Err(ActivityError::non_retryable("CardDeclined", "the card was declined"));
            }
            Ok(json!({"charge_id": format!("ch-{}", NEXT.fetch_add(1, Ordering::Relaxed))}))
        })
        .activity("release_inventory", |_ctx: ActivityContext, input: ReleaseInput| async move {
            println!("  [activity] release reservation {}", input.reservation_id);
            Ok::<_, ActivityError>(Empty {})
        })
        .activity("ship_order", |_ctx: ActivityContext, input: ShipInput| async move {
            println!("  [activity] ship {} from {}", input.order_id, input.reservation_id);
            Ok::<_, ActivityError>(json!({"tracking_number": format!("TRK-{}", NEXT.fetch_add(1, Ordering::Relaxed))}))
        })
        .start()
        .await?;

    let card = if decline {
        "4000 0000 0000 0002"
    } else {
        "4242 4242 4242 4242"
    };
    let input = json!({
        "order_id": order_id,
        "items": [
            {"sku": "tea-earl-grey", "quantity": 2, "price_cents": 650},
            {"sku": "mug-blue", "quantity": 1, "price_cents": 1200}
        ],
        "card": {"number": card},
        "ship_after_ms": 500
    });
    println!("starting workflow {order_id} (database {db})");
    host.start_workflow("order", &order_id, input).await?;
    let outcome = host.result(&order_id).await?;
    match &outcome {
        WorkflowOutcome::Completed(v) => println!("result: {v}"),
        WorkflowOutcome::Failed(f) => println!("failed: {f}"),
    }
    println!("history:");
    for e in host.history(&order_id)? {
        println!("  {}", e.summary());
    }
    println!("inspect it again with: cargo run -p weft-cli -- --db {db} history {order_id}");
    host.shutdown().await;
    Ok(())
}

//! The caller: a checkout that takes payment through the `payments` Nexus endpoint. It does not
//! know that a workflow of the payments team serves the operation.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use weft_sdk::{Failure, NexusOptions, nexus_operation_with};

#[derive(Deserialize)]
struct Checkout {
    order_id: String,
    amount_cents: u64,
}

#[derive(Serialize)]
struct Done {
    order_id: String,
    payment: Value,
}

fn checkout(input: Checkout) -> Result<Done, Failure> {
    let payment: Value = nexus_operation_with(
        "payments",
        "charge",
        "run",
        &json!({"order_id": input.order_id, "amount_cents": input.amount_cents}),
        &NexusOptions {
            schedule_to_close_timeout: Some(Duration::from_secs(60)),
        },
    )
    .result()?;
    Ok(Done {
        order_id: input.order_id,
        payment,
    })
}

weft_sdk::workflow!(checkout);

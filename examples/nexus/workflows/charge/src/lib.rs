//! The handler side: a charge workflow, started by the Nexus operation `payments/charge/run`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use weft_sdk::{Failure, activity};

#[derive(Deserialize, Serialize)]
struct Charge {
    order_id: String,
    amount_cents: u64,
}

#[derive(Deserialize, Serialize)]
struct Receipt {
    charge_id: String,
    amount_cents: u64,
}

fn charge(input: Charge) -> Result<Receipt, Failure> {
    let charge_id: String = activity("charge_card", &json!(input)).result()?;
    Ok(Receipt {
        charge_id,
        amount_cents: input.amount_cents,
    })
}

weft_sdk::workflow!(charge);

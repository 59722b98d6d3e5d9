//! An expense approval: the amount can be changed by an update (validated), the state read
//! by a query, and a `decide` signal approves or rejects. An approved expense is paid.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use weft_sdk::{
    Failure, activity, set_query_handler, set_update_handler_with_validator, signal_channel,
};

#[derive(Deserialize)]
struct Request {
    id: String,
    amount_cents: u64,
}

#[derive(Clone, Serialize)]
struct Status {
    amount_cents: u64,
    state: String,
}

#[derive(Deserialize)]
struct Decision {
    approved: bool,
    by: String,
}

fn approval(req: Request) -> Result<serde_json::Value, Failure> {
    let status = Rc::new(RefCell::new(Status {
        amount_cents: req.amount_cents,
        state: "waiting for a decision".into(),
    }));
    // Queries read the state and record nothing.
    let s = status.clone();
    set_query_handler("status", move |_: ()| Ok(s.borrow().clone()));
    // Updates change it; the validator rejects bad amounts without a trace in the history.
    let s = status.clone();
    set_update_handler_with_validator(
        "set_amount",
        |cents: &u64| match *cents {
            0 => Err(Failure::new("InvalidAmount", "the amount must be positive")),
            c if c > 1_000_000 => Err(Failure::new("InvalidAmount", "above the 10,000.00 limit")),
            _ => Ok(()),
        },
        move |cents: u64| {
            s.borrow_mut().amount_cents = cents;
            Ok(cents)
        },
    );
    // Signals arrive in the order they were recorded.
    let decision = signal_channel::<Decision>("decide").recv()?;
    let amount = status.borrow().amount_cents;
    if !decision.approved {
        status.borrow_mut().state = format!("rejected by {}", decision.by);
        return Ok(serde_json::json!({"id": req.id, "approved": false, "by": decision.by}));
    }
    status.borrow_mut().state = format!("approved by {}, paying", decision.by);
    let payment: String = activity("pay", &serde_json::json!({"id": req.id, "amount_cents": amount}))
        .result()?;
    status.borrow_mut().state = "paid".into();
    Ok(serde_json::json!({
        "id": req.id, "approved": true, "by": decision.by, "amount_cents": amount, "payment": payment
    }))
}

weft_sdk::workflow!(approval);

//! An async workflow: the main code and an async update handler are coroutines of one
//! deterministic scheduler (temporalio/features: update handlers that run while the main code
//! waits). The update `slow` waits on an activity; meanwhile the main code's timer fires and it
//! runs its own activity. The main code then waits for all handlers before returning.

use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use weft_sdk::{
    Failure, activity, all_handlers_finished, set_update_handler_async, timer, wait_condition_async,
};

async fn coroutines(input: Value) -> Result<Value, Failure> {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let l = log.clone();
    set_update_handler_async("slow", move |ms: u64| {
        let l = l.clone();
        async move {
            l.borrow_mut().push("handler started".into());
            let r: String = activity("nap", &json!({"ms": ms})).await?;
            l.borrow_mut().push("handler done".into());
            Ok(r)
        }
    });
    // Wait until the update arrived, then let the main code run beside the handler.
    wait_condition_async(|| !log.borrow().is_empty()).await?;
    timer(Duration::from_millis(
        input["timer_ms"].as_u64().unwrap_or(100),
    ))
    .await;
    log.borrow_mut().push("main timer fired".into());
    let step: String = activity("nap", &json!({"ms": 1})).await?;
    log.borrow_mut().push(format!("main {step}"));
    wait_condition_async(all_handlers_finished).await?;
    let out = log.borrow().clone();
    Ok(json!(out))
}

weft_sdk::workflow_async!(coroutines);

//! Workflow semantics beyond activities, by `mode`: signals and queries, updates,
//! cancellation with compensation, child workflows, continue-as-new, execution retries and
//! timeouts.

use serde::Deserialize;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use weft_sdk::{
    ActivityOptions, ChildOptions, Failure, ParentClosePolicy, activity, activity_with,
    child_workflow, child_workflow_with, continue_as_new, info, is_cancel_requested, now_ms,
    set_query_handler, set_signal_handler, set_update_handler, set_update_handler_with_validator,
    signal_channel, sleep, timer, uuid, wait_condition,
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct Input {
    mode: String,
    n: i64,
    i: i64,
    children: Vec<String>,
    child_mode: String,
    policy: String,
    wait: bool,
    size: usize,
}

#[derive(Default, Clone, serde::Serialize)]
struct Tally {
    sum: i64,
    seen: Vec<i64>,
    done: bool,
}

// Long but flat: one `match` arm per mode, each a short scenario a test drives.
fn run(input: Input) -> Result<Value, Failure> {
    match input.mode.as_str() {
        // Adds the `add` signals until `done`; query `tally` reads the state.
        "signals" => {
            let tally = Rc::new(RefCell::new(Tally::default()));
            let t = tally.clone();
            set_query_handler("tally", move |_: Value| Ok(t.borrow().clone()));
            // A query must not change the workflow: this one tries.
            set_query_handler("sneaky", |_: Value| {
                let _ = activity::<_, String>("step", &json!({"i": 0}));
                Ok(json!("scheduled"))
            });
            let add = signal_channel::<i64>("add");
            let done = signal_channel::<Value>("done");
            wait_condition(|| {
                let mut t = tally.borrow_mut();
                while let Some(v) = add.try_recv() {
                    let v = v.expect("add carries a number");
                    t.sum += v;
                    t.seen.push(v);
                }
                if done.try_recv().is_some() {
                    t.done = true;
                }
                t.done
            })?;
            let sum = tally.borrow().sum;
            let echoed: String = activity("step", &json!({ "i": sum })).result()?;
            let t = tally.borrow();
            Ok(json!({"sum": t.sum, "seen": t.seen, "echo": echoed}))
        }
        // Update `add` (validator rejects negatives) runs an activity and returns the total;
        // signal `finish` ends the workflow.
        "update" => {
            let total = Rc::new(RefCell::new(0i64));
            let t = total.clone();
            set_query_handler("total", move |_: Value| Ok(*t.borrow()));
            let t = total.clone();
            set_update_handler_with_validator(
                "add",
                |v: &i64| {
                    if *v == 666 {
                        panic!("the validator exploded on {v}");
                    }
                    if *v < 0 {
                        Err(Failure::new("Negative", format!("{v} is negative")))
                    } else {
                        Ok(())
                    }
                },
                move |v: i64| {
                    let _: String = activity("step", &json!({ "i": v })).result()?;
                    *t.borrow_mut() += v;
                    Ok(*t.borrow())
                },
            );
            // Update `flaky` panics while workflow time is before its `panic_until_ms`: the
            // update is delivered again with later tasks until it succeeds.
            set_update_handler("flaky", |u: Value| {
                if now_ms() < u["panic_until_ms"].as_u64().unwrap_or(0) {
                    panic!("the handler is not fixed yet");
                }
                Ok(json!("recovered"))
            });
            signal_channel::<Value>("finish").recv()?;
            Ok(json!({"total": *total.borrow()}))
        }
        // A long activity and a long timer; on cancel, compensate and end as canceled.
        "cancel" => {
            let options = ActivityOptions {
                heartbeat_timeout: Some(Duration::from_secs(5)),
                ..ActivityOptions::default()
            };
            let work = activity_with::<_, String>("blocking", &json!({}), &options);
            let wait = timer(Duration::from_secs(3600));
            let outcome = work.result();
            let fired = wait.wait();
            if is_cancel_requested() {
                let _: String = activity("compensate", &json!({"undo": "work"})).result()?;
                return Err(Failure::canceled(format!(
                    "canceled: work ended with {:?}, timer fired {fired}",
                    outcome.err().map(|f| f.error_type)
                )));
            }
            Ok(json!({"work": outcome?}))
        }
        // Starts `children` (of mode `child_mode`) and waits for them if `wait`; otherwise
        // returns once signal `finish` arrives, leaving them to the parent close policy.
        "parent" => {
            let policy = match input.policy.as_str() {
                "abandon" => ParentClosePolicy::Abandon,
                "request-cancel" => ParentClosePolicy::RequestCancel,
                _ => ParentClosePolicy::Terminate,
            };
            let options = ChildOptions {
                parent_close_policy: policy,
                ..ChildOptions::default()
            };
            let kids: Vec<_> = input
                .children
                .iter()
                .enumerate()
                .map(|(k, id)| {
                    child_workflow_with::<_, Value>(
                        "semantics",
                        id,
                        &json!({"mode": input.child_mode, "n": k as i64 + 1}),
                        &options,
                    )
                })
                .collect();
            if input.wait {
                let mut results = Vec::new();
                for k in &kids {
                    results.push(match k.result() {
                        Ok(v) => v,
                        Err(f) => json!({"error": f.error_type}),
                    });
                }
                return Ok(json!({"children": results}));
            }
            signal_channel::<Value>("finish").recv()?;
            Ok(json!("parent done"))
        }
        "child" => {
            let echoed: String = activity("step", &json!({ "i": input.n })).result()?;
            Ok(json!({"echo": echoed, "double": input.n * 2, "parent": info().parent_workflow_id}))
        }
        "child-wait" => {
            signal_channel::<Value>("finish").recv()?;
            Ok(json!("child finished"))
        }
        // Counts to `n`, one run per step.
        "continue" => {
            if input.i < input.n {
                continue_as_new(&json!({"mode": "continue", "i": input.i + 1, "n": input.n}));
            }
            Ok(json!({"i": input.i, "continued": info().continued_from_run_id.is_some()}))
        }
        // Fails until attempt `n` of the execution.
        "retry" => {
            let attempt = info().attempt;
            if i64::from(attempt) < input.n {
                return Err(Failure::new("Flaky", format!("attempt {attempt} fails")));
            }
            Ok(json!({"attempt": attempt}))
        }
        "sleep" => {
            sleep(Duration::from_secs(3600))?;
            Ok(json!("woke"))
        }
        // Deterministic helpers: the same values on every replay.
        "uuid" => {
            let a = uuid();
            let _: String = activity("step", &json!({"i": 1})).result()?;
            Ok(json!({"uuid": a, "again": uuid()}))
        }
        // Starts a child with an id given twice: the second start fails.
        "dup-child" => {
            let first =
                child_workflow::<_, Value>("semantics", "dup", &json!({"mode": "child-wait"}));
            let second = child_workflow::<_, Value>("semantics", "dup", &json!({"mode": "child"}));
            let err = second.result().err().map(|f| f.error_type);
            first.cancel();
            let first = first.result().err().map(|f| f.error_type);
            Ok(json!({"second": err, "first": first}))
        }
        // Schedules `n` `step` activities with `size` bytes of padding each, all in one task.
        "fan-out-big" => {
            let pad = "x".repeat(input.size);
            let steps: Vec<_> = (0..input.n)
                .map(|i| activity::<_, String>("step", &json!({"i": i, "pad": pad})))
                .collect();
            let mut done = 0;
            for s in steps {
                s.result()?;
                done += 1;
            }
            Ok(json!({"done": done}))
        }
        // One activity that returns `size` bytes.
        "big-result" => {
            let out: String = activity("big", &json!({"size": input.size})).result()?;
            Ok(json!({"len": out.len()}))
        }
        // temporalio/features signal/signal_with_start: a handler adds the `add` signals to a
        // counter that starts at 1; the main code reads it at once, without waiting.
        "signal-with-start" => {
            let value = Rc::new(RefCell::new(1i64));
            let v = value.clone();
            set_signal_handler("add", move |n: i64| *v.borrow_mut() += n);
            let result = *value.borrow();
            Ok(json!(result))
        }
        // temporalio/features signal/prevent_close: a handler collects the `add` signals; the
        // code waits for the first and returns all it has. Every recorded signal must be in it.
        "prevent-close" => {
            let seen = Rc::new(RefCell::new(Vec::<i64>::new()));
            let s = seen.clone();
            set_signal_handler("add", move |n: i64| s.borrow_mut().push(n));
            wait_condition(|| !seen.borrow().is_empty())?;
            let all = seen.borrow().clone();
            Ok(json!(all))
        }
        // temporalio/features continue_as_new/signals_block_continue_as_new: run 1 waits for a
        // signal and continues as new with what it saw; run 2 returns it. No signal recorded
        // in run 1 may be lost.
        "can-signals" => {
            if input.i > 0 {
                return Ok(json!(input.children));
            }
            let seen = Rc::new(RefCell::new(Vec::<String>::new()));
            let s = seen.clone();
            set_signal_handler("note", move |n: String| s.borrow_mut().push(n));
            wait_condition(|| !seen.borrow().is_empty())?;
            let all = seen.borrow().clone();
            continue_as_new(&json!({"mode": "can-signals", "i": 1, "children": all}));
        }
        // temporalio/features signal/external: signals each workflow of `children` with
        // signal `child_mode` carrying `n`, and reports how each request ended.
        "signal-external" => {
            let sent: Vec<_> = input
                .children
                .iter()
                .map(|id| weft_sdk::signal_external_workflow(id, None, &input.child_mode, &input.n))
                .collect();
            Ok(json!(
                sent.iter()
                    .map(|op| external_outcome(op.result()))
                    .collect::<Vec<_>>()
            ))
        }
        // Asks each workflow of `children` to cancel, and reports how each request ended.
        "cancel-external" => {
            let me = info().workflow_id;
            let sent: Vec<_> = input
                .children
                .iter()
                .map(|id| weft_sdk::cancel_external_workflow(id, None, &format!("asked by {me}")))
                .collect();
            Ok(json!(
                sent.iter()
                    .map(|op| external_outcome(op.result()))
                    .collect::<Vec<_>>()
            ))
        }
        other => Err(Failure::non_retryable(
            "BadMode",
            format!("unknown mode {other}"),
        )),
    }
}

/// How a signal or cancel request to another workflow ended, as the test reads it.
fn external_outcome(r: Result<(), Failure>) -> Value {
    match r {
        Ok(()) => json!("ok"),
        Err(f) => json!({"error": f.error_type, "message": f.message}),
    }
}

weft_sdk::workflow!(run);

//! The guest conformance workflow, Rust version. The Python (tests/guests-py/conformance.py)
//! and TypeScript (tests/guests-ts/conformance.ts) versions implement the same cases with the
//! same commands in the same order, so each replays the histories recorded from the others
//! (tests/fixtures/conformance/). Input: `{"case": NAME, ...}`. Activity `echo` returns its
//! input; activity `fail` fails with the non-retryable error type `Boom`. Result objects are
//! `json!` maps (keys in alphabetical order), which every SDK encodes to the same bytes.

use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use weft_sdk::{
    Failure, Pending, activity, child_workflow, continue_as_new, info, now_ms, patched, select,
    set_query_handler, set_update_handler_with_validator, signal_channel, sleep, timer,
    wait_condition,
};

fn echo(input: Value) -> weft_sdk::Activity<Value> {
    activity("echo", &input)
}

fn conformance(input: Value) -> Result<Value, Failure> {
    let case = input["case"].as_str().unwrap_or_default().to_string();
    match case.as_str() {
        "activities" => {
            let a = echo(json!({"n": 1})).result()?;
            let b = echo(json!({"n": 2}));
            let c = echo(json!({"n": 3}));
            let b = b.result()?;
            let c = c.result()?;
            Ok(json!({"results": [a, b, c]}))
        }
        "timer_race" => {
            let t = timer(Duration::from_secs(3600));
            let a = echo(json!({"n": 1}));
            let first = select(&[&t as &dyn Pending, &a]);
            if first == 0 {
                return Ok(json!({"winner": "timer"}));
            }
            t.cancel();
            Ok(json!({"value": a.result()?, "winner": "activity"}))
        }
        "signals" => {
            let total = Rc::new(Cell::new(0i64));
            let t = total.clone();
            set_query_handler("total", move |_: Value| Ok(t.get()));
            let adds = signal_channel::<i64>("add");
            for _ in 0..3 {
                total.set(total.get() + adds.recv()?);
            }
            Ok(json!({"total": total.get()}))
        }
        "update" => {
            let value = Rc::new(RefCell::new(None::<i64>));
            let v = value.clone();
            set_update_handler_with_validator(
                "set_value",
                |x: &i64| {
                    if *x < 0 {
                        Err(Failure::new("Negative", "the value must not be negative"))
                    } else {
                        Ok(())
                    }
                },
                move |x: i64| {
                    *v.borrow_mut() = Some(x);
                    Ok(x * 2)
                },
            );
            wait_condition(|| value.borrow().is_some())?;
            let v = value.borrow().expect("set");
            echo(json!({"value": v})).result()?;
            Ok(json!({"value": v}))
        }
        "child" => {
            let id = format!("{}-child", info().workflow_id);
            let child = child_workflow::<_, Value>("conformance", &id, &json!({"case": "activities"}))
                .result()?;
            Ok(json!({"child": child}))
        }
        "deterministic" => {
            let p = patched("conformance-patch");
            if p {
                echo(json!({"patched": true})).result()?;
            }
            let u = weft_sdk::uuid();
            let t = now_ms();
            Ok(json!({"now_ms": t, "patched": p, "uuid": u}))
        }
        "cancel" => match sleep(Duration::from_secs(3600)) {
            Ok(()) => Ok(json!({"slept": true})),
            Err(f) if f.is_canceled() => {
                echo(json!({"compensate": true})).result()?;
                Err(f)
            }
            Err(f) => Err(f),
        },
        "continue_as_new" => {
            let n = input["n"].as_i64().unwrap_or(0);
            if n < 2 {
                continue_as_new(&json!({"case": "continue_as_new", "n": n + 1}));
            }
            Ok(json!({"n": n}))
        }
        "failure" => match activity::<_, Value>("fail", &json!({"n": 1})).result() {
            Ok(v) => Ok(v),
            Err(e) => Err(Failure::new(
                "Wrapped",
                format!("activity failed: {}", e.error_type),
            )),
        },
        other => Err(Failure::non_retryable(
            "UnknownCase",
            format!("no conformance case named '{other}'"),
        )),
    }
}

weft_sdk::workflow!(conformance);

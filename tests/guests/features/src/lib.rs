//! Exercises activity options, cancellation, task queues and Nexus, one scenario per `mode`.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use weft_sdk::{
    ActivityOptions, CancellationType, Failure, NexusOptions, RetryPolicy, activity, activity_with, nexus_operation,
    nexus_operation_with, select, sleep, timer,
};

#[derive(Deserialize)]
struct Input {
    mode: String,
    #[serde(default)]
    n: u64,
    #[serde(default)]
    cancellation: String,
    #[serde(default)]
    key: String,
}

fn fast_retry(max_attempts: u32) -> Option<RetryPolicy> {
    Some(RetryPolicy {
        initial_interval: Duration::from_millis(100),
        maximum_attempts: max_attempts,
        ..RetryPolicy::default()
    })
}

fn error_type<T>(r: Result<T, Failure>) -> Value {
    match r {
        Ok(_) => json!("ok"),
        Err(f) => json!(f.error_type),
    }
}

// Long but flat: one `match` arm per mode, each a short scenario a test drives.
fn features(input: Input) -> Result<Value, Failure> {
    match input.mode.as_str() {
        // A long activity that checkpoints through heartbeats.
        "heartbeat" => {
            let options = ActivityOptions {
                heartbeat_timeout: Some(Duration::from_secs(2)),
                retry_policy: fast_retry(0),
                ..ActivityOptions::default()
            };
            let done: u64 = activity_with("long", &json!({"steps": input.n}), &options).result()?;
            Ok(json!({"steps": done}))
        }
        // Cancel a running activity and a pending timer.
        "cancel" => {
            let options = ActivityOptions {
                heartbeat_timeout: Some(Duration::from_secs(5)),
                ..ActivityOptions::default()
            };
            let blocking = activity_with::<_, String>("blocking", &json!({}), &options);
            let hour = timer(Duration::from_secs(3600));
            sleep(Duration::from_millis(300))?;
            blocking.cancel();
            hour.cancel();
            let fired = hour.wait();
            Ok(json!({"activity": error_type(blocking.result()), "timer_fired": fired}))
        }
        // temporalio/features activity/cancel_*: cancel an activity that keeps running after
        // the request, with the cancellation type `cancellation`; report what the wait gave.
        "cancel-type" => {
            let options = ActivityOptions {
                heartbeat_timeout: Some(Duration::from_secs(5)),
                cancellation_type: match input.cancellation.as_str() {
                    "try-cancel" => CancellationType::TryCancel,
                    "abandon" => CancellationType::Abandon,
                    _ => CancellationType::WaitCancellationCompleted,
                },
                ..ActivityOptions::default()
            };
            let stubborn =
                activity_with::<_, String>("stubborn", &json!({"key": input.key}), &options);
            sleep(Duration::from_millis(300))?;
            stubborn.cancel();
            let outcome = match stubborn.result() {
                Ok(v) => json!(v),
                Err(f) => json!(f.error_type),
            };
            Ok(json!({"activity": outcome}))
        }
        // Cancel an activity before any attempt ran: it ends at once.
        "cancel-queued" => {
            let options = ActivityOptions {
                task_queue: Some("narrow".into()),
                ..ActivityOptions::default()
            };
            let first = activity_with::<_, String>("nap", &json!({"ms": 1500}), &options);
            let second = activity_with::<_, String>("nap", &json!({"ms": 10}), &options);
            second.cancel();
            let second = error_type(second.result());
            first.result()?;
            Ok(json!({"second": second}))
        }
        // Each timeout ends its activity with a failure naming it.
        "timeouts" => {
            let stc = activity_with::<_, String>(
                "nap",
                &json!({"ms": 5000}),
                &ActivityOptions {
                    start_to_close_timeout: Some(Duration::from_millis(200)),
                    retry_policy: fast_retry(2),
                    ..ActivityOptions::default()
                },
            );
            let hb = activity_with::<_, String>(
                "nap",
                &json!({"ms": 5000}),
                &ActivityOptions {
                    heartbeat_timeout: Some(Duration::from_millis(200)),
                    retry_policy: fast_retry(1),
                    ..ActivityOptions::default()
                },
            );
            let s2c = activity_with::<_, String>(
                "nap",
                &json!({"ms": 3000}),
                &ActivityOptions {
                    start_to_close_timeout: Some(Duration::from_secs(10)),
                    schedule_to_close_timeout: Some(Duration::from_millis(400)),
                    ..ActivityOptions::default()
                },
            );
            // Retries stop before they would pass the schedule-to-close timeout.
            let flaky = activity_with::<_, String>(
                "flaky",
                &json!({}),
                &ActivityOptions {
                    // Attempts at 0, 0.1 s and 1.1 s; a fourth would start after the 3 s timeout.
                    schedule_to_close_timeout: Some(Duration::from_secs(3)),
                    retry_policy: Some(RetryPolicy {
                        initial_interval: Duration::from_millis(100),
                        backoff_coefficient: 10.0,
                        ..RetryPolicy::default()
                    }),
                    ..ActivityOptions::default()
                },
            );
            // The narrow queue runs one activity at a time: the second waits too long.
            let narrow = |ms: u64, s2s: Option<Duration>| {
                activity_with::<_, String>(
                    "nap",
                    &json!({"ms": ms}),
                    &ActivityOptions {
                        task_queue: Some("narrow".into()),
                        schedule_to_start_timeout: s2s,
                        ..ActivityOptions::default()
                    },
                )
            };
            let busy = narrow(1500, None);
            let starved = narrow(10, Some(Duration::from_millis(300)));
            Ok(json!({
                "start_to_close": error_type(stc.result()),
                "heartbeat": error_type(hb.result()),
                "schedule_to_close": error_type(s2c.result()),
                "flaky": error_type(flaky.result()),
                "schedule_to_start": error_type(starved.result()),
                "busy": error_type(busy.result()),
            }))
        }
        // Two activities on a queue served one at a time.
        "queues" => {
            let on_narrow = ActivityOptions {
                task_queue: Some("narrow".into()),
                ..ActivityOptions::default()
            };
            let a = activity_with::<_, Value>("span", &json!({"ms": 300}), &on_narrow);
            let b = activity_with::<_, Value>("span", &json!({"ms": 300}), &on_narrow);
            Ok(json!({"a": a.result()?, "b": b.result()?}))
        }
        "bad-queue" => {
            let options = ActivityOptions {
                task_queue: Some("nowhere".into()),
                ..ActivityOptions::default()
            };
            activity_with::<_, String>("nap", &json!({"ms": 1}), &options).result()?;
            Ok(Value::Null)
        }
        "nexus-retry" => {
            let v: Value = nexus_operation("calc", "math", "flaky-add", &json!({"a": 1, "b": 2}))
                .result()?;
            Ok(v)
        }
        "nexus-sync" => {
            let sum: u64 =
                nexus_operation("calc", "math", "add", &json!({"a": 2, "b": input.n})).result()?;
            Ok(json!({"sum": sum}))
        }
        // A Nexus operation that starts another workflow and completes with its result.
        "nexus-workflow" => {
            let op = nexus_operation::<_, Value>(
                "flows",
                "steps",
                "run",
                &json!({"count": input.n, "sleep_ms": 1}),
            );
            Ok(json!({"child": op.result()?}))
        }
        "nexus-cancel" => {
            let op = nexus_operation::<_, Value>(
                "flows",
                "steps",
                "run",
                &json!({"count": 1, "sleep_ms": 3_600_000}),
            );
            // Wait until the child started (its first step ran), then cancel.
            let t = timer(Duration::from_millis(1000));
            let which = select(&[&t, &op]);
            op.cancel();
            Ok(json!({"first": which, "outcome": error_type(op.result())}))
        }
        "nexus-timeout" => {
            let op = nexus_operation_with::<_, Value>(
                "calc",
                "slow",
                "wait",
                &json!({}),
                &NexusOptions {
                    schedule_to_close_timeout: Some(Duration::from_millis(300)),
                },
            );
            Ok(json!({"outcome": error_type(op.result())}))
        }
        "nexus-async" => {
            let v: Value = nexus_operation("calc", "slow", "wait", &json!({})).result()?;
            Ok(json!({"async": v}))
        }
        "nexus-unknown" => {
            nexus_operation::<_, Value>("calc", "nope", "x", &json!({})).result()?;
            Ok(Value::Null)
        }
        "plain" => {
            let v: String = activity("step", &json!({"i": 1})).result()?;
            Ok(json!(v))
        }
        other => Err(Failure::new(
            "InvalidInput",
            format!("unknown mode {other}"),
        )),
    }
}

weft_sdk::workflow!(features);

//! Fails on purpose: `{"mode": "error"}` returns a business error (fails the execution),
//! `{"mode": "panic"}` panics (fails the Workflow Task, which is retried), `{"mode":
//! "bad-retry"}` schedules an activity with an invalid retry policy (fails the task too).

use serde::Deserialize;
use std::time::Duration;
use weft_sdk::{ActivityOptions, Failure, RetryPolicy, activity_with};

#[derive(Deserialize)]
struct Input {
    mode: String,
}

fn fails(input: Input) -> Result<(), Failure> {
    match input.mode.as_str() {
        "error" => Err(Failure::new("Business", "order rejected")),
        "panic" => panic!("guest bug: index out of range"),
        "bad-retry" => {
            let options = ActivityOptions {
                start_to_close_timeout: Some(Duration::from_secs(5)),
                retry_policy: Some(RetryPolicy {
                    backoff_coefficient: 0.5,
                    ..RetryPolicy::default()
                }),
                ..ActivityOptions::default()
            };
            activity_with::<_, String>("step", &serde_json::json!({"i": 1}), &options)
                .result()
                .map(|_| ())
        }
        other => Err(Failure::new(
            "InvalidInput",
            format!("unknown mode {other}"),
        )),
    }
}

weft_sdk::workflow!(fails);

//! Fails on purpose: `{"mode": "error"}` returns a business error (fails the execution),
//! `{"mode": "panic"}` panics (fails the Workflow Task, which is retried).

use serde::Deserialize;
use weft_sdk::Failure;

#[derive(Deserialize)]
struct Input {
    mode: String,
}

fn fails(input: Input) -> Result<(), Failure> {
    match input.mode.as_str() {
        "error" => Err(Failure::new("Business", "order rejected")),
        "panic" => panic!("guest bug: index out of range"),
        other => Err(Failure::new(
            "InvalidInput",
            format!("unknown mode {other}"),
        )),
    }
}

weft_sdk::workflow!(fails);

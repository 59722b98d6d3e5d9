//! Runs `count` activities one after another with a timer after each.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use weft_sdk::{Failure, activity, sleep};

#[derive(Deserialize)]
struct Input {
    count: u32,
    sleep_ms: u64,
}

#[derive(Serialize)]
struct Output {
    results: Vec<String>,
}

fn steps(input: Input) -> Result<Output, Failure> {
    let mut results = Vec::new();
    for i in 0..input.count {
        results.push(activity::<_, String>("step", &json!({ "i": i })).result()?);
        sleep(Duration::from_millis(input.sleep_ms))?;
    }
    Ok(Output { results })
}

weft_sdk::workflow!(steps);

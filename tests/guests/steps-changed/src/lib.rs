//! `steps` with a code change: the second activity has another type. Replaying a history
//! recorded by `steps` must fail with a non-determinism error.

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
        results.push(
            activity::<_, String>(
                if i == 1 { "step_renamed" } else { "step" },
                &json!({ "i": i }),
            )
            .result()?,
        );
        sleep(Duration::from_millis(input.sleep_ms))?;
    }
    Ok(Output { results })
}

weft_sdk::workflow!(steps);

//! A tenant that fans out: schedules `n` activities in one Workflow Task, then waits for all
//! of them. Its neighbours' latency must not suffer beyond their fair share of the host.

use serde_json::{Value, json};
use weft_sdk::{Failure, activity, join_all};

fn fanout(input: Value) -> Result<u64, Failure> {
    let n = input["n"].as_u64().unwrap_or(10);
    let all: Vec<_> = (0..n)
        .map(|i| activity::<_, u64>("work", &json!({"i": i})))
        .collect();
    let mut sum = 0;
    for r in join_all(&all) {
        sum += r?;
    }
    Ok(sum)
}

weft_sdk::workflow!(fanout);

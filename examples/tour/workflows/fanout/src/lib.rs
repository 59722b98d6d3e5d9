//! Fan-out: the parent starts one child workflow per part and sums their results. The same
//! component is registered as the parent type (`fanout`) and the child type (`fanout-part`).

use serde::Deserialize;
use weft_sdk::{ChildWorkflow, Failure, activity, child_workflow, info};

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    Parent { parts: u64 },
    Part { part: u64 },
}

fn fanout(input: Input) -> Result<serde_json::Value, Failure> {
    match input {
        Input::Part { part } => {
            let squared: u64 = activity("square", &part).result()?;
            Ok(serde_json::json!(squared))
        }
        Input::Parent { parts } => {
            let me = info().workflow_id;
            // All children start at once and run in parallel; then wait for each.
            let children: Vec<ChildWorkflow<u64>> = (1..=parts)
                .map(|part| {
                    child_workflow("fanout-part", &format!("{me}-part-{part}"), &serde_json::json!({"part": part}))
                })
                .collect();
            let mut sum = 0;
            for child in &children {
                sum += child.result()?;
            }
            Ok(serde_json::json!({"parts": parts, "sum_of_squares": sum}))
        }
    }
}

weft_sdk::workflow!(fanout);

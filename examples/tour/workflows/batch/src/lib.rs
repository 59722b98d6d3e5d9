//! A long loop over many items that keeps its history short: each run processes a few
//! batches, then continues as a new run with its progress as input.

use serde::{Deserialize, Serialize};
use weft_sdk::{Failure, activity, continue_as_new};

#[derive(Deserialize, Serialize)]
struct Progress {
    next: u64,
    total: u64,
    batch: u64,
    batches_per_run: u64,
    sum: u64,
}

fn batch(mut p: Progress) -> Result<serde_json::Value, Failure> {
    for _ in 0..p.batches_per_run {
        if p.next >= p.total {
            return Ok(serde_json::json!({"items": p.total, "sum": p.sum}));
        }
        let to = (p.next + p.batch).min(p.total);
        let sum: u64 = activity("process", &serde_json::json!({"from": p.next, "to": to})).result()?;
        p.sum += sum;
        p.next = to;
    }
    if p.next >= p.total {
        return Ok(serde_json::json!({"items": p.total, "sum": p.sum}));
    }
    // A fresh history for the rest; the run chain shows in `weft describe`.
    continue_as_new(&p)
}

weft_sdk::workflow!(batch);

//! Reports what a workflow sees of time, randomness and its environment, through both the SDK
//! and the standard library (WASI), so tests can check that all of it comes from the history.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weft_sdk::{Failure, activity, info, now_ms, random_u64, select, timer};

fn probe(_input: Value) -> Result<Value, Failure> {
    let start = now_ms();
    let wasi_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let env_count = std::env::vars().count();
    let read_dir_failed = std::fs::read_dir("/").is_err();
    // HashMap uses WASI random for its hash keys: its order must replay identically.
    let map: HashMap<String, u32> = (0..16).map(|i| (format!("k{i}"), i)).collect();
    let order: Vec<u32> = map.values().copied().collect();
    let randoms = [random_u64(), random_u64(), random_u64()];

    // A race between a long timer and an activity; the activity wins.
    let long = timer(Duration::from_secs(3600));
    let step = activity::<_, String>("step", &json!({"i": 7}));
    let winner = select(&[&long, &step]);
    let step_result = step.result()?;
    // Time moves only between tasks: after a timer it is at least its due time.
    weft_sdk::sleep(Duration::from_millis(5))?;
    let later = now_ms();

    Ok(json!({
        "now_ms": start,
        "wasi_now_ms": wasi_now,
        "later_now_ms": later,
        "env_count": env_count,
        "read_dir_failed": read_dir_failed,
        "hash_order": order,
        "randoms": randoms,
        "winner": winner,
        "step": step_result,
        "info": info(),
    }))
}

weft_sdk::workflow!(probe);

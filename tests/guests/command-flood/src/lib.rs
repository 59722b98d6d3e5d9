//! Hostile: starts timers without end in one Workflow Task. The command limit must stop it.

use serde_json::Value;
use std::time::Duration;
use weft_sdk::{Failure, timer};

fn command_flood(_input: Value) -> Result<u32, Failure> {
    let mut timers = Vec::new();
    for i in 0..1_000_000u32 {
        timers.push(timer(Duration::from_secs(u64::from(i) + 1)));
    }
    Ok(timers.len() as u32)
}

weft_sdk::workflow!(command_flood);

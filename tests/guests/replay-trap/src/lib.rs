//! Hostile: behaves in its first task, then traps in the middle of the replay of every later
//! task (once the activity result is in its history).

use serde_json::{Value, json};
use weft_sdk::{Failure, activity};

fn replay_trap(_input: Value) -> Result<String, Failure> {
    let first: String = activity("step", &json!({"i": 0})).result()?;
    let v: Vec<u8> = Vec::new();
    // Out of bounds: a trap, decided by data that only replay has.
    let i = first.len() + std::hint::black_box(3);
    Ok(format!("{first}{}", v[i]))
}

weft_sdk::workflow!(replay_trap);

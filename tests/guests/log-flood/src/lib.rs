//! Hostile: floods stdout. The host logs a bounded amount and the workflow still completes.

use serde_json::Value;
use weft_sdk::Failure;

fn log_flood(_input: Value) -> Result<u32, Failure> {
    let line = "flood ".repeat(20);
    for i in 0..20_000u32 {
        println!("{i} {line}");
    }
    Ok(20_000)
}

weft_sdk::workflow!(log_flood);

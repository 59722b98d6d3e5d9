//! Hostile: returns a result far above the payload limit.

use serde_json::Value;
use weft_sdk::Failure;

fn huge_output(_input: Value) -> Result<String, Failure> {
    Ok("x".repeat(4 << 20))
}

weft_sdk::workflow!(huge_output);

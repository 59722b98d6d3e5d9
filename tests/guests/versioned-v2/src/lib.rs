//! Version 2 of `versioned-v1`: an extra activity after the first, behind `patched`, so runs
//! started by version 1 still replay.

use serde_json::{Value, json};
use weft_sdk::{Failure, activity, patched, signal_channel};

fn run(_: Value) -> Result<Value, Failure> {
    let mut done = Vec::new();
    done.push(activity::<_, String>("step", &json!({"i": 1})).result()?);
    if patched("extra-step") {
        done.push(activity::<_, String>("step", &json!({"i": 3})).result()?);
    }
    signal_channel::<Value>("go").recv()?;
    done.push(activity::<_, String>("step", &json!({"i": 2})).result()?);
    Ok(json!(done))
}

weft_sdk::workflow!(run);

//! Version 1 of a workflow: activity `a`, wait for signal `go`, activity `b`.

use serde_json::{Value, json};
use weft_sdk::{Failure, activity, signal_channel};

fn run(_: Value) -> Result<Value, Failure> {
    let mut done = Vec::new();
    done.push(activity::<_, String>("step", &json!({"i": 1})).result()?);
    signal_channel::<Value>("go").recv()?;
    done.push(activity::<_, String>("step", &json!({"i": 2})).result()?);
    Ok(json!(done))
}

weft_sdk::workflow!(run);

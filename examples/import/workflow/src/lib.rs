//! Imports a file of rows with one long activity. The activity heartbeats its progress; if an
//! attempt fails (or the host dies), the next attempt resumes from the last checkpoint.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use weft_sdk::{ActivityOptions, Failure, RetryPolicy, activity_with};

#[derive(Deserialize)]
struct Import {
    file: String,
    rows: u64,
}

#[derive(Serialize, Deserialize)]
struct Imported {
    rows: u64,
    attempts: u32,
    resumed_at: u64,
}

fn import(input: Import) -> Result<Imported, Failure> {
    let options = ActivityOptions {
        // Each attempt must report progress at least every 2 s.
        heartbeat_timeout: Some(Duration::from_secs(2)),
        start_to_close_timeout: Some(Duration::from_secs(600)),
        retry_policy: Some(RetryPolicy {
            initial_interval: Duration::from_millis(500),
            ..RetryPolicy::default()
        }),
        ..ActivityOptions::default()
    };
    activity_with(
        "import_rows",
        &json!({"file": input.file, "rows": input.rows}),
        &options,
    )
    .result()
}

weft_sdk::workflow!(import);

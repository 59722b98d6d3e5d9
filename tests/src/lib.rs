//! Paths of the workflow components the tests run, built by build.rs, and what the tests
//! share: [`TestHost`] to configure and start hosts, and waiting helpers.

mod host;

pub use host::{TestHost, order_activities, shared_compile_cache_dir, test_limits};

/// The order example's workflow (examples/order/workflow).
pub const ORDER: &str = env!("WEFT_TEST_ORDER_WASM");
/// `count` sequential `step` activities, each followed by a timer.
pub const STEPS: &str = env!("WEFT_TEST_STEPS_WASM");
/// `STEPS` with the second activity renamed: non-deterministic against its histories.
pub const STEPS_CHANGED: &str = env!("WEFT_TEST_STEPS_CHANGED_WASM");
/// Returns a business error or panics, on request.
pub const FAILS: &str = env!("WEFT_TEST_FAILS_WASM");
/// Reports time, randomness and environment as the guest sees them.
pub const PROBE: &str = env!("WEFT_TEST_PROBE_WASM");
/// Reaches every WASI import a workflow can (clocks, pollables, streams, random, cli,
/// filesystem) and reports what it saw; also sleeps forever or blocks in a loop, by `mode`.
pub const WASI_PROBE: &str = env!("WEFT_TEST_WASI_PROBE_WASM");
/// Schedules `n` activities in one task and waits for all of them (a busy tenant).
pub const FANOUT: &str = env!("WEFT_TEST_FANOUT_WASM");
/// An async workflow whose update handler and main code run as coroutines.
pub const COROUTINES: &str = env!("WEFT_TEST_COROUTINES_WASM");
/// Tries a TCP connection through wasi:sockets (linked deny-all): input an address, returns
/// whether it connected (never).
pub const FORBIDDEN: &str = env!("WEFT_TEST_FORBIDDEN_WASM");

/// The guest conformance workflow in Rust (one case per input `case`); the Python and
/// TypeScript versions implement the same cases with the same commands.
pub const CONFORMANCE: &str = env!("WEFT_TEST_CONFORMANCE_WASM");
/// A workflow driven entirely by its JSON input (a script of activities, timers, `all`/`race`
/// groups, signal waits, children and failures; query `log`, update `bump`), for the
/// deterministic simulator and property tests. `mutate_in_validator` plants a determinism bug.
pub const SCRIPT: &str = env!("WEFT_TEST_SCRIPT_WASM");

/// The order example in Python (examples/python/order).
pub const PY_ORDER: &str = env!("WEFT_TEST_PY_ORDER_WASM");
/// [`PY_ORDER`] charging with another activity type: diverges from its histories.
pub const PY_ORDER_CHANGED: &str = env!("WEFT_TEST_PY_ORDER_CHANGED_WASM");
/// The approval example in Python (examples/python/approval).
pub const PY_APPROVAL: &str = env!("WEFT_TEST_PY_APPROVAL_WASM");
/// The conformance workflow in Python (tests/guests-py).
pub const PY_CONFORMANCE: &str = env!("WEFT_TEST_PY_CONFORMANCE_WASM");
/// A second build of [`PY_CONFORMANCE`] from the same sources.
pub const PY_CONFORMANCE_REBUILT: &str = env!("WEFT_TEST_PY_CONFORMANCE_REBUILT_WASM");
/// Reports Python's own time and randomness (`time`, `random`, `os.urandom`) in a workflow.
pub const PY_PROBE: &str = env!("WEFT_TEST_PY_PROBE_WASM");
/// A second build of [`PY_PROBE`] from the same sources.
pub const PY_PROBE_REBUILT: &str = env!("WEFT_TEST_PY_PROBE_REBUILT_WASM");
/// The order example in TypeScript (examples/typescript/order).
pub const TS_ORDER: &str = env!("WEFT_TEST_TS_ORDER_WASM");
/// [`TS_ORDER`] charging with another activity type: diverges from its histories.
pub const TS_ORDER_CHANGED: &str = env!("WEFT_TEST_TS_ORDER_CHANGED_WASM");
/// The approval example in TypeScript (examples/typescript/approval).
pub const TS_APPROVAL: &str = env!("WEFT_TEST_TS_APPROVAL_WASM");
/// The conformance workflow in TypeScript (tests/guests-ts).
pub const TS_CONFORMANCE: &str = env!("WEFT_TEST_TS_CONFORMANCE_WASM");
/// A second build of [`TS_CONFORMANCE`] from the same sources.
pub const TS_CONFORMANCE_REBUILT: &str = env!("WEFT_TEST_TS_CONFORMANCE_REBUILT_WASM");
/// Reports JavaScript's own time and randomness (`Date`, `Math.random`, `crypto`).
pub const TS_PROBE: &str = env!("WEFT_TEST_TS_PROBE_WASM");

/// Activity options, cancellation, task queues and Nexus, by `mode`.
pub const FEATURES: &str = env!("WEFT_TEST_FEATURES_WASM");
/// Signals, queries, updates, cancellation, children, continue-as-new and retries, by
/// `mode`.
pub const SEMANTICS: &str = env!("WEFT_TEST_SEMANTICS_WASM");
/// A workflow before a versioned change.
pub const VERSIONED_V1: &str = env!("WEFT_TEST_VERSIONED_V1_WASM");
/// The same workflow after the change, behind `patched`.
pub const VERSIONED_V2: &str = env!("WEFT_TEST_VERSIONED_V2_WASM");
/// Hostile: computes forever.
pub const SPIN: &str = env!("WEFT_TEST_SPIN_WASM");
/// Hostile: allocates until stopped.
pub const MEMORY_BOMB: &str = env!("WEFT_TEST_MEMORY_BOMB_WASM");
/// Hostile: recurses without end.
pub const DEEP_RECURSION: &str = env!("WEFT_TEST_DEEP_RECURSION_WASM");
/// Hostile: traps during the replay of its second task.
pub const REPLAY_TRAP: &str = env!("WEFT_TEST_REPLAY_TRAP_WASM");
/// Hostile: returns 4 MiB, twice the payload limit.
pub const HUGE_OUTPUT: &str = env!("WEFT_TEST_HUGE_OUTPUT_WASM");
/// Hostile: writes megabytes to stdout, then completes.
pub const LOG_FLOOD: &str = env!("WEFT_TEST_LOG_FLOOD_WASM");
/// Hostile: issues a million commands in one task.
pub const COMMAND_FLOOD: &str = env!("WEFT_TEST_COMMAND_FLOOD_WASM");
/// A component of another world; must be refused.
pub const WRONG_WORLD: &str = env!("WEFT_TEST_WRONG_WORLD_WASM");

/// A component that imports `wasi:http` (which no workflow may use, and weft does not link):
/// refused at registration.
pub fn http_importing_component() -> Vec<u8> {
    wat::parse_str(r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance)))"#)
        .expect("valid component text")
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after 120 s.
pub async fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    wait_until_or(what, cond, String::new).await
}

/// [`wait_until`], and on a timeout the panic also shows `state()` (a run's description and
/// history, say), so a stall can be read from the failure.
pub async fn wait_until_or(what: &str, mut cond: impl FnMut() -> bool, state: impl Fn() -> String) {
    let start = std::time::Instant::now();
    while !cond() {
        if start.elapsed() >= std::time::Duration::from_secs(120) {
            panic!("timed out waiting for {what}\n{}", state());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// [`wait_until`] for threads outside a runtime: polls every 5 ms, panics after 120 s.
pub fn wait_blocking(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The lines of a run log written by `test_host` (empty if it does not exist yet).
pub fn log_lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Reads a `test_host` process's output up to its `RESULT <json>` or `FAILED <failure>` line,
/// returns that line, and checks that the process then exits successfully.
pub fn outcome_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout is piped"));
    let line = stdout
        .lines()
        .map(|l| l.expect("read the host's output"))
        .find(|l| l.starts_with("RESULT") || l.starts_with("FAILED"))
        .expect("the host printed an outcome");
    assert!(child.wait().expect("wait for the host").success());
    line
}

/// The events of a history that the workflow's code decided (its commands: activities,
/// timers, cancellations, children, Nexus operations, markers, external signals and cancels,
/// accepted and completed updates, and how the run closed), in order, as every SDK must
/// produce them for the same inputs however the host's timing batched them into tasks. Each is
/// its kind as JSON with payloads decoded from their bytes to the JSON they hold, and what
/// differs from run to run blanked: event ids, times, seeds, run, request and update ids, the
/// workflow type's name, and the keys `per_run_result_keys` of a completed run's result.
pub fn command_shape(
    history: &[weft::history::Event],
    per_run_result_keys: &[&str],
) -> Vec<serde_json::Value> {
    const RECORDED_BY_CODE: &[&str] = &[
        "ActivityTaskScheduled",
        "ActivityTaskCancelRequested",
        "TimerStarted",
        "TimerCanceled",
        "NexusOperationScheduled",
        "NexusOperationCancelRequested",
        "StartChildWorkflowExecutionInitiated",
        "SignalExternalWorkflowExecutionInitiated",
        "RequestCancelExternalWorkflowExecutionInitiated",
        "MarkerRecorded",
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionUpdateCompleted",
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionCanceled",
        "WorkflowExecutionContinuedAsNew",
    ];
    history
        .iter()
        .filter(|e| RECORDED_BY_CODE.contains(&e.kind.name()))
        .map(|e| {
            let mut v = serde_json::to_value(&e.kind).expect("events serialize");
            normalize(&mut v);
            if let Some(result) = v.pointer_mut("/WorkflowExecutionCompleted/result") {
                for key in per_run_result_keys {
                    if let Some(x) = result.get_mut(*key) {
                        *x = serde_json::json!("<per run>");
                    }
                }
            }
            v
        })
        .collect()
}

fn normalize(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            for (key, x) in map.iter_mut() {
                match key.as_str() {
                    "random_seed" | "run_id" | "request_id" | "new_run_id" | "time_ms"
                    | "fire_at_ms" | "identity" | "continued_run_id" | "workflow_type"
                    | "update_id" => *x = Value::Null,
                    k if k.ends_with("_event_id") => *x = Value::Null,
                    _ => match payload(x) {
                        // What a payload holds is not looked into.
                        Some(p) => *x = p,
                        None => normalize(x),
                    },
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// A payload (`{"json": ...}` or `{"base64": ...}`) as the JSON it holds.
fn payload(v: &serde_json::Value) -> Option<serde_json::Value> {
    let map = v.as_object().filter(|m| m.len() == 1)?;
    if !map.contains_key("json") && !map.contains_key("base64") {
        return None;
    }
    let p: weft::Payload = serde_json::from_value(v.clone()).ok()?;
    Some(p.to_json())
}

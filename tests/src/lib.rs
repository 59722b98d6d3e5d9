//! Paths of the workflow components the tests run, built by build.rs, and what the tests
//! share: [`TestHost`] to configure and start hosts, and waiting helpers.

mod host;

pub use host::{TestHost, order_activities, test_limits};

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

//! Paths of the workflow components the tests run, built by build.rs.

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
/// Imports wasi:sockets; must be refused.
pub const FORBIDDEN: &str = env!("WEFT_TEST_FORBIDDEN_WASM");

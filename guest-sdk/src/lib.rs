//! Write weft workflows in Rust.
//!
//! A workflow is a plain function from a JSON-deserializable input to a JSON-serializable
//! output. weft runs it from the start on every Workflow Task and answers every call below from
//! the run's history when the answer is known, so the function must be deterministic: use
//! [`now`], [`random_u64`], [`activity`] and [`timer`] for anything that is not pure computation.
//!
//! ```ignore
//! use weft_sdk::{activity, sleep, Failure};
//! use std::time::Duration;
//!
//! fn greet(name: String) -> Result<String, Failure> {
//!     let greeting: String = activity("make_greeting", &name).result()?;
//!     sleep(Duration::from_secs(1));
//!     Ok(greeting)
//! }
//!
//! weft_sdk::workflow!(greet);
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2`; the result is a component weft loads.
//! Returning `Err` fails the execution. A panic fails only the Workflow Task: weft retries it
//! and the execution stays open until fixed code is deployed.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "weft:workflow/workflow",
        pub_export_macro: true,
        export_macro_name: "__export_weft_workflow",
        default_bindings_module: "weft_sdk::bindings",
    });
}

use bindings::weft::workflow::host;
use bindings::weft::workflow::types as wit;

/// An error a workflow returns or an activity failed with.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Short machine-readable type, for example `CardDeclined`.
    pub error_type: String,
    /// Human-readable message.
    pub message: String,
    /// Optional structured details.
    pub details: Option<serde_json::Value>,
    /// For activity failures: the activity was not retried because of this error.
    pub non_retryable: bool,
}

impl Failure {
    /// A failure of type `error_type`.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
            non_retryable: false,
        }
    }

    /// A failure marked non-retryable.
    pub fn non_retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            non_retryable: true,
            ..Failure::new(error_type, message)
        }
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details).ok();
        self
    }

    fn from_wit(f: wit::Failure) -> Self {
        Failure {
            error_type: f.error_type,
            message: f.message,
            details: f.details.map(|d| {
                serde_json::from_slice(&d).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&d).into())
                })
            }),
            non_retryable: f.non_retryable,
        }
    }

    fn into_wit(self) -> wit::Failure {
        wit::Failure {
            error_type: self.error_type,
            message: self.message,
            details: self
                .details
                .map(|d| serde_json::to_vec(&d).expect("a JSON value serializes")),
            non_retryable: self.non_retryable,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for Failure {}

/// Result of workflow code.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// How an activity is retried. Defaults follow Temporal's: 1 s initial interval, coefficient 2,
/// maximum interval 100 x initial, unlimited attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub initial_interval: Duration,
    pub backoff_coefficient: f64,
    pub maximum_interval: Duration,
    /// Attempts in all, the first included; 0 is unlimited.
    pub maximum_attempts: u32,
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: Duration::from_secs(100),
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

/// Options of one activity call; `None` fields take the host's defaults. The timeouts mean
/// what Temporal's do: start-to-close per attempt, schedule-to-close over all attempts,
/// schedule-to-start per attempt in its queue, heartbeat as the longest gap between
/// heartbeats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityOptions {
    pub start_to_close_timeout: Option<Duration>,
    pub schedule_to_close_timeout: Option<Duration>,
    pub schedule_to_start_timeout: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    /// The task queue (default `default`); the host must serve it in this namespace.
    pub task_queue: Option<String>,
    pub retry_policy: Option<RetryPolicy>,
}

/// Options of one Nexus operation call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NexusOptions {
    pub schedule_to_close_timeout: Option<Duration>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ActivityOptions {
    fn to_wit(&self) -> wit::ActivityOptions {
        wit::ActivityOptions {
            start_to_close_timeout_ms: self.start_to_close_timeout.map(millis),
            schedule_to_close_timeout_ms: self.schedule_to_close_timeout.map(millis),
            schedule_to_start_timeout_ms: self.schedule_to_start_timeout.map(millis),
            heartbeat_timeout_ms: self.heartbeat_timeout.map(millis),
            task_queue: self.task_queue.clone(),
            retry_policy: self.retry_policy.as_ref().map(|p| wit::RetryPolicy {
                initial_interval_ms: millis(p.initial_interval),
                backoff_coefficient: p.backoff_coefficient,
                maximum_interval_ms: millis(p.maximum_interval),
                maximum_attempts: p.maximum_attempts,
                non_retryable_error_types: p.non_retryable_error_types.clone(),
            }),
        }
    }
}

/// Something the workflow can wait on: an [`Activity`], a [`Timer`] or a [`NexusOperation`].
pub trait Pending {
    /// The host handle of the operation.
    fn handle(&self) -> u32;
}

/// A scheduled activity whose result is `O`.
#[must_use = "an activity runs whether or not its result is read; call result() to wait for it"]
pub struct Activity<O> {
    handle: u32,
    activity_type: String,
    _output: PhantomData<fn() -> O>,
}

impl<O> Pending for Activity<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

fn decode_outcome<O: DeserializeOwned>(what: &str, outcome: wit::Outcome) -> Result<O> {
    match outcome {
        wit::Outcome::Completed(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::non_retryable(
                "DecodeError",
                format!("result of {what} does not decode: {e}"),
            )
        }),
        wit::Outcome::Failed(f) => Err(Failure::from_wit(f)),
        wit::Outcome::Canceled => Err(Failure::non_retryable(
            "Canceled",
            format!("{what} was canceled"),
        )),
        wit::Outcome::Fired => unreachable!("{what} resolved as a timer"),
    }
}

impl<O: DeserializeOwned> Activity<O> {
    /// Waits for the activity and returns its result, or the failure of its last attempt (a
    /// timeout is a failure whose type names it; a canceled activity gives `Canceled`).
    pub fn result(&self) -> Result<O> {
        let (_, outcome) = host::wait_any(&[self.handle]);
        decode_outcome(&format!("activity '{}'", self.activity_type), outcome)
    }
}

impl<O> Activity<O> {
    /// Asks to cancel the activity. Wait with [`Activity::result`] for how it ended: a running
    /// attempt learns of the request when it heartbeats and ends as `Canceled` if it gives
    /// up, or with its result if it completes anyway.
    pub fn cancel(&self) {
        host::request_cancel(self.handle);
    }
}

/// Schedules activity `activity_type` with `input` and default options. It starts at once;
/// wait for it with [`Activity::result`], [`select`] or [`join_all`].
pub fn activity<I: Serialize + ?Sized, O>(activity_type: &str, input: &I) -> Activity<O> {
    activity_with(activity_type, input, &ActivityOptions::default())
}

/// Schedules an activity with explicit options.
pub fn activity_with<I: Serialize + ?Sized, O>(
    activity_type: &str,
    input: &I,
    options: &ActivityOptions,
) -> Activity<O> {
    let input = serde_json::to_vec(input).unwrap_or_else(|e| {
        panic!("input of activity '{activity_type}' does not serialize to JSON: {e}")
    });
    Activity {
        handle: host::schedule_activity(activity_type, &input, &options.to_wit()),
        activity_type: activity_type.to_string(),
        _output: PhantomData,
    }
}

/// Waits for all `activities` and returns their results in the same order. They run
/// concurrently: all were scheduled before this call.
pub fn join_all<O: DeserializeOwned>(activities: &[Activity<O>]) -> Vec<Result<O>> {
    activities.iter().map(Activity::result).collect()
}

/// A durable timer.
#[must_use = "call wait() to block until the timer fires"]
pub struct Timer {
    handle: u32,
}

impl Pending for Timer {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl Timer {
    /// Blocks until the timer fires (true) or is canceled (false).
    pub fn wait(&self) -> bool {
        matches!(host::wait_any(&[self.handle]).1, wit::Outcome::Fired)
    }

    /// Cancels the timer if it has not fired; waiting on it then returns false at once.
    pub fn cancel(&self) {
        host::request_cancel(self.handle);
    }
}

/// A scheduled Nexus operation whose result is `O`.
#[must_use = "the operation runs whether or not its result is read; call result() to wait for it"]
pub struct NexusOperation<O> {
    handle: u32,
    name: String,
    _output: PhantomData<fn() -> O>,
}

impl<O> Pending for NexusOperation<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<O: DeserializeOwned> NexusOperation<O> {
    /// Waits for the operation and returns its result or failure.
    pub fn result(&self) -> Result<O> {
        let (_, outcome) = host::wait_any(&[self.handle]);
        decode_outcome(&format!("Nexus operation {}", self.name), outcome)
    }
}

impl<O> NexusOperation<O> {
    /// Asks to cancel the operation.
    pub fn cancel(&self) {
        host::request_cancel(self.handle);
    }
}

/// Calls Nexus operation `operation` of `service` at `endpoint` with `input`.
pub fn nexus_operation<I: Serialize + ?Sized, O>(
    endpoint: &str,
    service: &str,
    operation: &str,
    input: &I,
) -> NexusOperation<O> {
    nexus_operation_with(
        endpoint,
        service,
        operation,
        input,
        &NexusOptions::default(),
    )
}

/// Calls a Nexus operation with explicit options.
pub fn nexus_operation_with<I: Serialize + ?Sized, O>(
    endpoint: &str,
    service: &str,
    operation: &str,
    input: &I,
    options: &NexusOptions,
) -> NexusOperation<O> {
    let name = format!("{endpoint}/{service}/{operation}");
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of Nexus operation {name} does not serialize: {e}"));
    let options = wit::NexusOptions {
        schedule_to_close_timeout_ms: options.schedule_to_close_timeout.map(millis),
    };
    NexusOperation {
        handle: host::schedule_nexus_operation(endpoint, service, operation, &input, options),
        name,
        _output: PhantomData,
    }
}

/// Starts a timer that fires `duration` of workflow time from now.
pub fn timer(duration: Duration) -> Timer {
    Timer {
        handle: host::start_timer(millis(duration)),
    }
}

/// Sleeps for `duration` of workflow time. Survives restarts of the host.
pub fn sleep(duration: Duration) {
    timer(duration).wait();
}

/// Blocks until one of `pending` resolves and returns its index. When several are resolved,
/// the one resolved first in the history wins, so replays pick the same one. Read an
/// activity's result afterwards with [`Activity::result`]; it returns at once.
pub fn select(pending: &[&dyn Pending]) -> usize {
    assert!(!pending.is_empty(), "select needs at least one operation");
    let handles: Vec<u32> = pending.iter().map(|p| p.handle()).collect();
    let (handle, _) = host::wait_any(&handles);
    handles
        .iter()
        .position(|h| *h == handle)
        .expect("the host resolved one of the handles asked for")
}

/// Workflow time in milliseconds since the Unix epoch: when the current Workflow Task started.
pub fn now_ms() -> u64 {
    host::now_ms()
}

/// Workflow time as a `SystemTime` (the same value `SystemTime::now()` gives in a workflow).
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(now_ms())
}

/// A pseudo-random number, the same on every replay of this run.
pub fn random_u64() -> u64 {
    host::random_u64()
}

/// Facts about the running workflow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Info {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub task_attempt: u32,
}

/// Facts about the running workflow.
pub fn info() -> Info {
    let i = host::info();
    Info {
        workflow_id: i.workflow_id,
        run_id: i.run_id,
        workflow_type: i.workflow_type,
        task_attempt: i.task_attempt,
    }
}

#[doc(hidden)]
pub fn __run<I, O>(input: Vec<u8>, f: fn(I) -> Result<O>) -> Result<Vec<u8>, wit::Failure>
where
    I: DeserializeOwned,
    O: Serialize,
{
    let input: I = serde_json::from_slice(&input).map_err(|e| {
        Failure::non_retryable(
            "InvalidInput",
            format!("workflow input does not decode: {e}"),
        )
        .into_wit()
    })?;
    let output = f(input).map_err(Failure::into_wit)?;
    serde_json::to_vec(&output).map_err(|e| {
        Failure::non_retryable(
            "InvalidOutput",
            format!("workflow result does not encode: {e}"),
        )
        .into_wit()
    })
}

/// Exports `fn(I) -> Result<O, Failure>` as the workflow of this component. `I` is decoded from
/// the JSON input (malformed input fails the execution with `InvalidInput`), `O` is encoded as
/// the JSON result.
#[macro_export]
macro_rules! workflow {
    ($f:path) => {
        struct __WeftWorkflow;

        impl $crate::bindings::Guest for __WeftWorkflow {
            fn run(
                input: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<u8>,
                $crate::bindings::weft::workflow::types::Failure,
            > {
                $crate::__run(input, $f)
            }
        }

        $crate::bindings::__export_weft_workflow!(__WeftWorkflow with_types_in $crate::bindings);
    };
}

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
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
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

mod tasks;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
pub use tasks::all_handlers_finished;

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

    /// The error a workflow returns to end as canceled after a cancel request
    /// (WorkflowExecutionCanceled); the same type an operation canceled on its behalf gives.
    pub fn canceled(message: impl Into<String>) -> Self {
        Failure::non_retryable("Canceled", message)
    }

    /// True for a `Canceled` failure.
    pub fn is_canceled(&self) -> bool {
        self.error_type == "Canceled"
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
    /// What [`Activity::cancel`] (or the workflow's own cancellation) waits for.
    /// `WaitCancellationRequested` is for children only: the Workflow Task fails.
    pub cancellation_type: CancellationType,
}

/// How the wait on an activity or child workflow asked to cancel ends (Temporal's
/// cancellation types). The type is recorded in the cancel's event, so a replay agrees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CancellationType {
    /// Wait until the operation ends: `Canceled`, or its result or failure if it finished
    /// anyway.
    #[default]
    WaitCancellationCompleted,
    /// Request the cancel and end the wait as `Canceled` at once; a result the operation
    /// reports later is recorded, not returned.
    TryCancel,
    /// Send nothing (the operation keeps running) and end the wait as `Canceled` at once.
    Abandon,
    /// Child workflows only: end the wait as `Canceled` once the child's cancel request is
    /// recorded, without waiting for the child to close.
    WaitCancellationRequested,
}

/// Asks to cancel operation `h` with the cancellation type it was started with.
fn request_cancel(h: u32) {
    let ty = STATE.with(|s| s.borrow().cancellation_types.get(&h).copied());
    let ty = match ty.unwrap_or_default() {
        // `request-cancel` keeps the component linking on hosts before WIT 0.2.2.
        CancellationType::WaitCancellationCompleted => return host::request_cancel(h),
        CancellationType::TryCancel => wit::CancellationType::TryCancel,
        CancellationType::Abandon => wit::CancellationType::Abandon,
        CancellationType::WaitCancellationRequested => {
            wit::CancellationType::WaitCancellationRequested
        }
    };
    host::request_cancel_with(h, ty);
}

/// Records the cancellation type of operation `h` (the default needs no entry).
fn set_cancellation_type(h: u32, ty: CancellationType) -> u32 {
    if ty != CancellationType::WaitCancellationCompleted {
        STATE.with(|s| s.borrow_mut().cancellation_types.insert(h, ty));
    }
    h
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
            retry_policy: self.retry_policy.as_ref().map(retry_to_wit),
        }
    }
}

fn retry_to_wit(p: &RetryPolicy) -> wit::RetryPolicy {
    wit::RetryPolicy {
        initial_interval_ms: millis(p.initial_interval),
        backoff_coefficient: p.backoff_coefficient,
        maximum_interval_ms: millis(p.maximum_interval),
        maximum_attempts: p.maximum_attempts,
        non_retryable_error_types: p.non_retryable_error_types.clone(),
    }
}

/// Something the workflow can wait on: an [`Activity`], a [`Timer`], a [`NexusOperation`], a
/// [`ChildWorkflow`] or an [`ExternalOperation`].
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

/// Waits for one of `handles`, handling the messages that arrive first.
fn wait(handles: &[u32]) -> (u32, wit::Outcome) {
    loop {
        match host::wait_any(handles) {
            wit::Wake::Resolved((h, outcome)) => {
                STATE.with(|s| s.borrow_mut().pending.remove(&h));
                deliver_pending();
                return (h, outcome);
            }
            wit::Wake::Message(m) => {
                dispatch(m);
                deliver_pending();
            }
        }
    }
}

/// Waits for the next message and handles it.
fn wait_message() {
    match host::wait_any(&[]) {
        wit::Wake::Message(m) => dispatch(m),
        wit::Wake::Resolved(_) => unreachable!("nothing was awaited"),
    }
    deliver_pending();
}

/// Hands every recorded message the code can see and has not handled yet (signals, cancel
/// requests, accepted updates) to its handler or channel, in history order, before the code
/// goes on: at the start of the workflow and after every wait. No recorded message is skipped.
fn deliver_pending() {
    for m in host::take_messages() {
        dispatch(m);
    }
}

/// Registers a new operation's handle, to be canceled if the workflow is.
fn track(handle: u32) -> u32 {
    STATE.with(|s| s.borrow_mut().pending.insert(handle));
    handle
}

type Handler = Rc<dyn Fn(Vec<u8>) -> Result<Vec<u8>>>;
type AsyncHandler = Rc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>>>>>;
type SignalHandler = Rc<dyn Fn(Vec<u8>)>;
type Validator = Rc<dyn Fn(&[u8]) -> Result<()>>;

#[derive(Default)]
struct State {
    /// Handles of operations whose outcome the code has not seen.
    pending: BTreeSet<u32>,
    /// Signals no handler took, per name, for [`SignalChannel`]s.
    signals: HashMap<String, VecDeque<Vec<u8>>>,
    signal_handlers: HashMap<String, SignalHandler>,
    async_updates: HashMap<String, (Option<Validator>, AsyncHandler)>,
    cancel: Option<String>,
    /// Cancellation types of operations started with one other than the default.
    cancellation_types: HashMap<u32, CancellationType>,
    queries: HashMap<String, Handler>,
    updates: HashMap<String, (Option<Validator>, Handler)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State::default());
}

fn dispatch(message: wit::Message) {
    match message {
        wit::Message::Signal((name, input)) => {
            let handler = STATE.with(|s| s.borrow().signal_handlers.get(&name).cloned());
            match handler {
                Some(h) => h(input),
                None => STATE.with(|s| {
                    s.borrow_mut()
                        .signals
                        .entry(name)
                        .or_default()
                        .push_back(input)
                }),
            }
        }
        wit::Message::CancelRequested(reason) => {
            let pending: Vec<u32> = STATE.with(|s| {
                let mut s = s.borrow_mut();
                s.cancel = Some(reason);
                s.pending.iter().copied().collect()
            });
            // Cancel everything the workflow is waiting for, in handle order; operations
            // started from now on (compensation) are not canceled.
            for h in pending {
                request_cancel(h);
            }
        }
        wit::Message::Update(u) => {
            let async_handler = STATE.with(|s| s.borrow().async_updates.get(&u.name).cloned());
            if let Some((validator, handler)) = async_handler {
                if u.validate {
                    if let Some(v) = validator
                        && let Err(f) = v(&u.input)
                    {
                        host::reject_update(&u.id, &f.into_wit());
                        return;
                    }
                    host::accept_update(&u.id);
                }
                // The handler runs as a task beside the main code.
                let fut = handler(u.input);
                let id = u.id;
                tasks::spawn_handler(async move {
                    let outcome = fut.await.map_err(Failure::into_wit);
                    host::complete_update(&id, outcome.as_deref());
                });
                return;
            }
            let handler = STATE.with(|s| s.borrow().updates.get(&u.name).cloned());
            let Some((validator, handler)) = handler else {
                if u.validate {
                    let f = Failure::non_retryable(
                        "UnknownUpdate",
                        format!("the workflow has no update handler named '{}'", u.name),
                    );
                    host::reject_update(&u.id, &f.into_wit());
                    return;
                }
                panic!(
                    "the history accepted update '{}' but the workflow has no handler for it at this point",
                    u.name
                );
            };
            if u.validate {
                if let Some(v) = validator
                    && let Err(f) = v(&u.input)
                {
                    host::reject_update(&u.id, &f.into_wit());
                    return;
                }
                host::accept_update(&u.id);
            }
            let outcome = handler(u.input).map_err(Failure::into_wit);
            host::complete_update(&u.id, outcome.as_deref());
        }
        wit::Message::Query(q) => answer_query(q),
    }
}

fn answer_query(q: wit::QueryRequest) {
    let handler = STATE.with(|s| s.borrow().queries.get(&q.name).cloned());
    let outcome = match handler {
        Some(h) => h(q.input),
        None => Err(Failure::non_retryable(
            "UnknownQuery",
            format!("the workflow has no query handler named '{}'", q.name),
        )),
    };
    let outcome = outcome.map_err(Failure::into_wit);
    host::respond_query(outcome.as_deref());
    unreachable!("respond-query does not return");
}

fn encode<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Failure::non_retryable("EncodeError", format!("{what} does not encode: {e}")))
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::non_retryable("DecodeError", format!("{what} does not decode: {e}")))
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
        let (_, outcome) = wait(&[self.handle]);
        decode_outcome(&format!("activity '{}'", self.activity_type), outcome)
    }
}

impl<O> Activity<O> {
    /// Asks to cancel the activity. Wait with [`Activity::result`] for how it ended; by
    /// [`ActivityOptions::cancellation_type`]: a running attempt learns of the request when it
    /// heartbeats and ends as `Canceled` if it gives up, or with its result if it completes
    /// anyway (`WaitCancellationCompleted`); or the result is `Canceled` at once
    /// (`TryCancel`, and `Abandon`, which tells the activity nothing).
    pub fn cancel(&self) {
        request_cancel(self.handle);
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
    let handle = host::schedule_activity(activity_type, &input, &options.to_wit());
    Activity {
        handle: track(set_cancellation_type(handle, options.cancellation_type)),
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
        matches!(wait(&[self.handle]).1, wit::Outcome::Fired)
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
        let (_, outcome) = wait(&[self.handle]);
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
        handle: track(host::schedule_nexus_operation(
            endpoint, service, operation, &input, options,
        )),
        name,
        _output: PhantomData,
    }
}

/// Starts a timer that fires `duration` of workflow time from now.
pub fn timer(duration: Duration) -> Timer {
    Timer {
        handle: track(host::start_timer(millis(duration))),
    }
}

/// Sleeps for `duration` of workflow time. Survives restarts of the host. Returns a
/// `Canceled` failure when the workflow is canceled during the sleep.
pub fn sleep(duration: Duration) -> Result<()> {
    if timer(duration).wait() {
        Ok(())
    } else {
        Err(Failure::canceled("the sleep was canceled"))
    }
}

/// Blocks until one of `pending` resolves and returns its index. When several are resolved,
/// the one resolved first in the history wins, so replays pick the same one. Read an
/// activity's result afterwards with [`Activity::result`]; it returns at once.
pub fn select(pending: &[&dyn Pending]) -> usize {
    assert!(!pending.is_empty(), "select needs at least one operation");
    let handles: Vec<u32> = pending.iter().map(|p| p.handle()).collect();
    let (handle, _) = wait(&handles);
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
    /// Attempt of the execution (1 unless its retry policy started it again).
    pub attempt: u32,
    /// The run this one continues (continue-as-new or retry).
    pub continued_from_run_id: Option<String>,
    /// The parent's workflow id, for a child workflow.
    pub parent_workflow_id: Option<String>,
}

/// Facts about the running workflow.
pub fn info() -> Info {
    let i = host::info();
    Info {
        workflow_id: i.workflow_id,
        run_id: i.run_id,
        workflow_type: i.workflow_type,
        task_attempt: i.task_attempt,
        attempt: i.attempt,
        continued_from_run_id: i.continued_from_run_id,
        parent_workflow_id: i.parent_workflow_id,
    }
}

/// A random UUID (version 4 layout) from the workflow's deterministic generator: the same on
/// every replay of this run.
pub fn uuid() -> String {
    let hi = random_u64();
    let lo = random_u64();
    let hi = (hi & !0xF000) | 0x4000;
    let lo = (lo & !(0xC0 << 56)) | (0x80 << 56);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// Receives the signals named `name`, in the order the history recorded them. Signals that
/// arrive before anyone reads them are buffered.
pub struct SignalChannel<T> {
    name: String,
    _t: PhantomData<fn() -> T>,
}

/// The channel of signals named `name`.
pub fn signal_channel<T: DeserializeOwned>(name: &str) -> SignalChannel<T> {
    SignalChannel {
        name: name.to_string(),
        _t: PhantomData,
    }
}

impl<T: DeserializeOwned> SignalChannel<T> {
    /// The next buffered signal, without waiting.
    pub fn try_recv(&self) -> Option<Result<T>> {
        let bytes = STATE.with(|s| {
            s.borrow_mut()
                .signals
                .get_mut(&self.name)
                .and_then(|q| q.pop_front())
        })?;
        Some(decode(&format!("signal '{}'", self.name), &bytes))
    }

    /// Waits for the next signal. Returns a `Canceled` failure if the workflow is canceled
    /// before one arrives.
    pub fn recv(&self) -> Result<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return v;
            }
            if is_cancel_requested() {
                return Err(Failure::canceled(format!(
                    "the workflow was canceled while waiting for signal '{}'",
                    self.name
                )));
            }
            wait_message();
        }
    }

    /// Waits for the next signal for at most `timeout` of workflow time: `Ok(None)` when
    /// none came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<T>> {
        let name = self.name.clone();
        let has =
            move || STATE.with(|s| s.borrow().signals.get(&name).is_some_and(|q| !q.is_empty()));
        if wait_condition_timeout(has, timeout)? {
            self.try_recv().transpose()
        } else {
            Ok(None)
        }
    }
}

/// Starts `task` beside the main code of an async workflow ([`workflow_async!`]). Tasks run
/// one at a time, in the order they were started, whenever the running one waits: the
/// interleaving is the same on every replay.
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    tasks::spawn(task);
}

/// Waits, in an async workflow, until `condition` holds, handling messages meanwhile. Returns
/// a `Canceled` failure if the workflow is canceled first.
pub async fn wait_condition_async(mut condition: impl FnMut() -> bool + Unpin) -> Result<()> {
    tasks::Condition(|| condition() || is_cancel_requested()).await;
    if condition() {
        Ok(())
    } else {
        Err(Failure::canceled(
            "the workflow was canceled while waiting for a condition",
        ))
    }
}

impl<O: DeserializeOwned + 'static> IntoFuture for Activity<O> {
    type Output = Result<O>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O>>>>;
    /// Awaits the activity in an async workflow: its result, or the failure of its last attempt.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let outcome = tasks::HandleWait(self.handle).await;
            decode_outcome(&format!("activity '{}'", self.activity_type), outcome)
        })
    }
}

impl IntoFuture for Timer {
    type Output = bool;
    type IntoFuture = Pin<Box<dyn Future<Output = bool>>>;
    /// Awaits the timer in an async workflow: true when it fired, false when canceled.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { matches!(tasks::HandleWait(self.handle).await, wit::Outcome::Fired) })
    }
}

impl<O: DeserializeOwned + 'static> IntoFuture for ChildWorkflow<O> {
    type Output = Result<O>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O>>>>;
    /// Awaits the child in an async workflow: its result or failure.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let outcome = tasks::HandleWait(self.handle).await;
            decode_outcome(&format!("child workflow '{}'", self.id), outcome)
        })
    }
}

impl<O: DeserializeOwned + 'static> IntoFuture for NexusOperation<O> {
    type Output = Result<O>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O>>>>;
    /// Awaits the operation in an async workflow: its result or failure.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let outcome = tasks::HandleWait(self.handle).await;
            decode_outcome(&format!("Nexus operation {}", self.name), outcome)
        })
    }
}

impl<T: DeserializeOwned> SignalChannel<T> {
    /// Waits, in an async workflow, for the next signal. Returns a `Canceled` failure if the
    /// workflow is canceled before one arrives.
    pub async fn recv_async(&self) -> Result<T> {
        let name = self.name.clone();
        let has =
            move || STATE.with(|s| s.borrow().signals.get(&name).is_some_and(|q| !q.is_empty()));
        wait_condition_async(has).await?;
        self.try_recv().expect("a buffered signal")
    }
}

/// Registers the async update handler `name` for an async workflow ([`workflow_async!`]): an
/// accepted update runs `handler` as a task beside the main code, so both can wait on
/// activities and timers at once. Wait for [`all_handlers_finished`] before returning.
pub fn set_update_handler_async<I, O, F, Fut>(name: &str, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize + 'static,
    F: Fn(I) -> Fut + 'static,
    Fut: Future<Output = Result<O>> + 'static,
{
    register_update_async(name, None::<fn(&I) -> Result<()>>, handler);
}

/// [`set_update_handler_async`] with a validator: a validator error rejects the update and
/// leaves no trace in the history.
pub fn set_update_handler_async_with_validator<I, O, V, F, Fut>(
    name: &str,
    validator: V,
    handler: F,
) where
    I: DeserializeOwned + 'static,
    O: Serialize + 'static,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Fut + 'static,
    Fut: Future<Output = Result<O>> + 'static,
{
    register_update_async(name, Some(validator), handler);
}

fn register_update_async<I, O, V, F, Fut>(name: &str, validator: Option<V>, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize + 'static,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Fut + 'static,
    Fut: Future<Output = Result<O>> + 'static,
{
    let what = format!("update '{name}'");
    let what2 = what.clone();
    let v: Option<Validator> = validator.map(|v| {
        Rc::new(move |bytes: &[u8]| {
            let input: I = decode(&format!("input of {what2}"), bytes)?;
            v(&input)
        }) as Validator
    });
    let handler = Rc::new(handler);
    let h: AsyncHandler = Rc::new(move |bytes: Vec<u8>| {
        let (handler, what) = (handler.clone(), what.clone());
        Box::pin(async move {
            let input: I = decode(&format!("input of {what}"), &bytes)?;
            let out = handler(input).await?;
            encode(&format!("result of {what}"), &out)
        })
    });
    STATE.with(|s| {
        s.borrow_mut()
            .async_updates
            .insert(name.to_string(), (v, h))
    });
}

/// Registers the signal handler `name`: every signal of that name, also those recorded before
/// the handler was registered (for example with signal-with-start), is handed to it in history
/// order before the workflow code goes on. A signal whose input does not decode as `T` is
/// dropped with a message on stderr. A [`SignalChannel`] of the same name receives nothing
/// once a handler is registered.
pub fn set_signal_handler<T, F>(name: &str, handler: F)
where
    T: DeserializeOwned + 'static,
    F: Fn(T) + 'static,
{
    let what = format!("signal '{name}'");
    let h: SignalHandler = Rc::new(move |bytes| match decode::<T>(&what, &bytes) {
        Ok(v) => handler(v),
        Err(f) => eprintln!("{what} dropped: {}", f.message),
    });
    let buffered = STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.signal_handlers.insert(name.to_string(), h.clone());
        s.signals.remove(name).unwrap_or_default()
    });
    for input in buffered {
        h(input);
    }
}

/// Waits until `condition` holds, handling signals, updates and queries meanwhile (check it
/// against state they change). Returns a `Canceled` failure if the workflow is canceled first.
pub fn wait_condition(mut condition: impl FnMut() -> bool) -> Result<()> {
    loop {
        if condition() {
            return Ok(());
        }
        if is_cancel_requested() {
            return Err(Failure::canceled(
                "the workflow was canceled while waiting for a condition",
            ));
        }
        wait_message();
    }
}

/// Waits until `condition` holds or `timeout` of workflow time passes: true if it holds.
/// Returns a `Canceled` failure if the workflow is canceled first.
pub fn wait_condition_timeout(
    mut condition: impl FnMut() -> bool,
    timeout: Duration,
) -> Result<bool> {
    if condition() {
        return Ok(true);
    }
    let t = timer(timeout);
    loop {
        if is_cancel_requested() {
            return Err(Failure::canceled(
                "the workflow was canceled while waiting for a condition",
            ));
        }
        match host::wait_any(&[t.handle]) {
            wit::Wake::Resolved(_) => {
                STATE.with(|s| s.borrow_mut().pending.remove(&t.handle));
                deliver_pending();
                return Ok(condition());
            }
            wit::Wake::Message(m) => dispatch(m),
        }
        deliver_pending();
        if condition() {
            t.cancel();
            STATE.with(|s| s.borrow_mut().pending.remove(&t.handle));
            return Ok(true);
        }
    }
}

/// True once cancellation of the workflow was requested. Operations pending at that moment
/// were asked to cancel; new ones (compensation) run normally.
pub fn is_cancel_requested() -> bool {
    STATE.with(|s| s.borrow().cancel.is_some())
}

/// The reason given with the cancel request, once there is one.
pub fn cancel_reason() -> Option<String> {
    STATE.with(|s| s.borrow().cancel.clone())
}

/// Registers the query handler `name`. It answers from the workflow's state and must not
/// start activities, timers or anything else (that fails the query). Register handlers at the
/// start of the workflow function.
pub fn set_query_handler<I, O, F>(name: &str, handler: F)
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Result<O> + 'static,
{
    let what = format!("query '{name}'");
    let h: Handler = Rc::new(move |bytes| {
        let input = decode(&format!("input of {what}"), &bytes)?;
        encode(&format!("result of {what}"), &handler(input)?)
    });
    STATE.with(|s| s.borrow_mut().queries.insert(name.to_string(), h));
}

/// Registers the update handler `name`. An accepted update runs `handler`, which may start
/// activities, timers and children and wait for them; the caller receives its result.
pub fn set_update_handler<I, O, F>(name: &str, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    F: Fn(I) -> Result<O> + 'static,
{
    register_update(name, None::<fn(&I) -> Result<()>>, handler);
}

/// Registers update handler `name` with a validator. A validator error rejects the update and
/// leaves no trace in the history; the validator must not change state or start anything.
pub fn set_update_handler_with_validator<I, O, V, F>(name: &str, validator: V, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Result<O> + 'static,
{
    register_update(name, Some(validator), handler);
}

fn register_update<I, O, V, F>(name: &str, validator: Option<V>, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    V: Fn(&I) -> Result<()> + 'static,
    F: Fn(I) -> Result<O> + 'static,
{
    let what = format!("update '{name}'");
    let what2 = what.clone();
    let v: Option<Validator> = validator.map(|v| {
        Rc::new(move |bytes: &[u8]| {
            let input: I = decode(&format!("input of {what2}"), bytes)?;
            v(&input)
        }) as Validator
    });
    let h: Handler = Rc::new(move |bytes| {
        let input = decode(&format!("input of {what}"), &bytes)?;
        encode(&format!("result of {what}"), &handler(input)?)
    });
    STATE.with(|s| s.borrow_mut().updates.insert(name.to_string(), (v, h)));
}

/// What happens to a child workflow when its parent closes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParentClosePolicy {
    /// The child is terminated.
    #[default]
    Terminate,
    /// The child is asked to cancel.
    RequestCancel,
    /// The child keeps running.
    Abandon,
}

/// Options of a child workflow; `None` fields take the defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChildOptions {
    pub parent_close_policy: ParentClosePolicy,
    pub execution_timeout: Option<Duration>,
    pub run_timeout: Option<Duration>,
    pub task_timeout: Option<Duration>,
    pub retry_policy: Option<RetryPolicy>,
    /// What [`ChildWorkflow::cancel`] (or the workflow's own cancellation) waits for.
    pub cancellation_type: CancellationType,
}

/// A started child workflow whose result is `O`.
#[must_use = "the child runs whether or not its result is read; call result() to wait for it"]
pub struct ChildWorkflow<O> {
    handle: u32,
    id: String,
    _output: PhantomData<fn() -> O>,
}

impl<O> Pending for ChildWorkflow<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<O: DeserializeOwned> ChildWorkflow<O> {
    /// Waits for the child and returns its result, or its failure (`Terminated`, `TimedOut`,
    /// `Canceled`, `WorkflowExecutionAlreadyStarted` when its id was taken).
    pub fn result(&self) -> Result<O> {
        let (_, outcome) = wait(&[self.handle]);
        decode_outcome(&format!("child workflow '{}'", self.id), outcome)
    }
}

impl<O> ChildWorkflow<O> {
    /// Asks the child to cancel; [`ChildOptions::cancellation_type`] says when
    /// [`ChildWorkflow::result`] gives `Canceled` (by default once the child closed).
    pub fn cancel(&self) {
        request_cancel(self.handle);
    }
}

/// Starts child workflow `id` of `workflow_type` with `input`.
pub fn child_workflow<I: Serialize + ?Sized, O>(
    workflow_type: &str,
    id: &str,
    input: &I,
) -> ChildWorkflow<O> {
    child_workflow_with(workflow_type, id, input, &ChildOptions::default())
}

/// Starts a child workflow with options.
pub fn child_workflow_with<I: Serialize + ?Sized, O>(
    workflow_type: &str,
    id: &str,
    input: &I,
    options: &ChildOptions,
) -> ChildWorkflow<O> {
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of child workflow {id} does not serialize: {e}"));
    let wit_options = wit::ChildOptions {
        parent_close_policy: Some(match options.parent_close_policy {
            ParentClosePolicy::Terminate => wit::ParentClosePolicy::Terminate,
            ParentClosePolicy::RequestCancel => wit::ParentClosePolicy::RequestCancel,
            ParentClosePolicy::Abandon => wit::ParentClosePolicy::Abandon,
        }),
        execution_timeout_ms: options.execution_timeout.map(millis),
        run_timeout_ms: options.run_timeout.map(millis),
        task_timeout_ms: options.task_timeout.map(millis),
        retry_policy: options.retry_policy.as_ref().map(retry_to_wit),
    };
    let handle = host::start_child_workflow(workflow_type, id, &input, &wit_options);
    ChildWorkflow {
        handle: track(set_cancellation_type(handle, options.cancellation_type)),
        id: id.to_string(),
        _output: PhantomData,
    }
}

/// A signal or cancel request sent to another workflow of the namespace
/// ([`signal_external_workflow`], [`cancel_external_workflow`]).
#[must_use = "the request is sent whether or not its outcome is read; call result() to wait for it"]
pub struct ExternalOperation {
    handle: u32,
    what: String,
}

impl Pending for ExternalOperation {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl ExternalOperation {
    /// Waits until the target recorded the request (`Ok`), or it was refused: a failure whose
    /// type is the cause, `ExternalWorkflowExecutionNotFound` when no open run has the id (and
    /// run id) in the namespace, or `HistoryLimitExceeded` for a signal the target's history
    /// cannot take.
    pub fn result(&self) -> Result<()> {
        let (_, outcome) = wait(&[self.handle]);
        match outcome {
            wit::Outcome::Completed(_) => Ok(()),
            other => decode_outcome::<()>(&self.what, other),
        }
    }
}

/// Signals workflow `id` of this namespace (its run `run_id`, or its current run) with signal
/// `name` and `input` (as Temporal's `SignalExternalWorkflowExecution`). Wait with
/// [`ExternalOperation::result`] to learn whether it was delivered.
pub fn signal_external_workflow<I: Serialize + ?Sized>(
    id: &str,
    run_id: Option<&str>,
    name: &str,
    input: &I,
) -> ExternalOperation {
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of signal '{name}' to {id} does not serialize: {e}"));
    ExternalOperation {
        handle: host::signal_external_workflow(id, run_id, name, &input),
        what: format!("signal '{name}' to workflow '{id}'"),
    }
}

/// Asks workflow `id` of this namespace (its run `run_id`, or its current run) to cancel, with
/// `reason` (as Temporal's `RequestCancelExternalWorkflowExecution`). Wait with
/// [`ExternalOperation::result`] to learn whether the request was recorded.
pub fn cancel_external_workflow(id: &str, run_id: Option<&str>, reason: &str) -> ExternalOperation {
    ExternalOperation {
        handle: host::request_cancel_external_workflow(id, run_id, reason),
        what: format!("cancel request to workflow '{id}'"),
    }
}

/// Ends this run and continues the workflow as a new run with `input` and a fresh history.
pub fn continue_as_new<I: Serialize + ?Sized>(input: &I) -> ! {
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of continue-as-new does not serialize: {e}"));
    // Nothing recorded is left behind in this run.
    deliver_pending();
    host::continue_as_new(&input);
    unreachable!("continue-as-new does not return")
}

/// Versioning. Returns true when the code runs past this point for the first time (and
/// records `change_id`), or replays a history that recorded it; false when it replays a history
/// written before the change. Keep the old branch until no run of the old code is open.
///
/// ```ignore
/// if weft_sdk::patched("send-receipt") {
///     activity::<_, ()>("send_receipt", &order).result()?;
/// }
/// ```
pub fn patched(change_id: &str) -> bool {
    host::patched(change_id)
}

/// Marks a change whose old branch was removed once no run of the old code was open.
pub fn deprecate_patch(change_id: &str) {
    host::deprecate_patch(change_id)
}

#[doc(hidden)]
pub fn __run<I, O>(input: Vec<u8>, f: fn(I) -> Result<O>) -> Result<Vec<u8>, wit::Failure>
where
    I: DeserializeOwned,
    O: Serialize,
{
    run_with(input, f)
}

#[doc(hidden)]
pub fn __run_async<I, O, Fut>(input: Vec<u8>, f: fn(I) -> Fut) -> Result<Vec<u8>, wit::Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    Fut: Future<Output = Result<O>>,
{
    run_with(input, |input| tasks::run_until(f(input)))
}

/// Decodes the input, hands over the messages recorded before the first task (a
/// signal-with-start, an early cancel request) so the code sees them before it runs, runs the
/// workflow, answers a query on a closed workflow from the state left behind, and encodes the
/// result.
fn run_with<I, O>(input: Vec<u8>, run: impl FnOnce(I) -> Result<O>) -> Result<Vec<u8>, wit::Failure>
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
    deliver_pending();
    let output = run(input);
    deliver_pending();
    if let Some(q) = host::take_query() {
        answer_query(q);
    }
    let output = output.map_err(Failure::into_wit)?;
    serde_json::to_vec(&output).map_err(|e| {
        Failure::non_retryable(
            "InvalidOutput",
            format!("workflow result does not encode: {e}"),
        )
        .into_wit()
    })
}

/// Exports `async fn(I) -> Result<O, Failure>` as the workflow of this component: the main
/// code, async update handlers ([`set_update_handler_async`]) and [`spawn`]ed tasks run as
/// coroutines of one deterministic scheduler, so a handler can wait on an activity while the
/// main code waits on a timer. Await operations (`activity(..).await`, `timer(..).await`)
/// rather than calling their blocking `result()`/`wait()`, which hold every task.
///
/// ```ignore
/// async fn approval(req: Request) -> weft_sdk::Result<Decision> {
///     weft_sdk::set_update_handler_async("audit", |who: String| async move {
///         weft_sdk::activity::<_, String>("audit", &who).await
///     });
///     let decision = weft_sdk::signal_channel::<Decision>("decide").recv_async().await?;
///     weft_sdk::wait_condition_async(weft_sdk::all_handlers_finished).await?;
///     Ok(decision)
/// }
/// weft_sdk::workflow_async!(approval);
/// ```
#[macro_export]
macro_rules! workflow_async {
    ($f:path) => {
        struct __WeftWorkflow;

        impl $crate::bindings::Guest for __WeftWorkflow {
            fn run(
                input: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<
                ::std::vec::Vec<u8>,
                $crate::bindings::weft::workflow::types::Failure,
            > {
                $crate::__run_async(input, $f)
            }
        }

        $crate::bindings::__export_weft_workflow!(__WeftWorkflow with_types_in $crate::bindings);
    };
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

//! Running the workflow: the entry the [`workflow!`](crate::workflow!) and
//! [`workflow_async!`](crate::workflow_async!) macros export, the run's state, the wait loop and
//! the bookkeeping of pending operations, waiting ([`select`], conditions, tasks), and what the
//! host answers deterministically (time, random numbers, [`Info`], versioning, continue-as-new).

use crate::activity::CancellationType;
use crate::failure::{Failure, Result};
use crate::messages::{
    AsyncHandler, Handler, SignalHandler, Validator, answer_query, deliver_pending, dispatch,
    is_cancel_requested,
};
use crate::timer::timer;
use crate::{host, tasks, wit};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the SDK keeps of the run between host calls: pending operations, buffered signals,
/// registered handlers and the cancel request.
#[derive(Default)]
pub(crate) struct State {
    /// Handles of operations whose outcome the code has not seen.
    pub(crate) pending: BTreeSet<u32>,
    /// Signals no handler took, per name, for [`SignalChannel`](crate::SignalChannel)s.
    pub(crate) signals: HashMap<String, VecDeque<Vec<u8>>>,
    pub(crate) signal_handlers: HashMap<String, SignalHandler>,
    pub(crate) async_updates: HashMap<String, (Option<Validator>, AsyncHandler)>,
    pub(crate) cancel: Option<String>,
    /// Cancellation types of operations started with one other than the default.
    pub(crate) cancellation_types: HashMap<u32, CancellationType>,
    pub(crate) queries: HashMap<String, Handler>,
    pub(crate) updates: HashMap<String, (Option<Validator>, Handler)>,
}

thread_local! {
    pub(crate) static STATE: RefCell<State> = RefCell::new(State::default());
}

/// Waits for one of `handles`, handling the messages that arrive first.
pub(crate) fn wait(handles: &[u32]) -> (u32, wit::Outcome) {
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
pub(crate) fn wait_message() {
    match host::wait_any(&[]) {
        wit::Wake::Message(m) => dispatch(m),
        wit::Wake::Resolved(_) => unreachable!("nothing was awaited"),
    }
    deliver_pending();
}

/// Registers a new operation's handle, to be canceled if the workflow is.
pub(crate) fn track(handle: u32) -> u32 {
    STATE.with(|s| s.borrow_mut().pending.insert(handle));
    handle
}

/// Asks to cancel operation `h` with the cancellation type it was started with.
pub(crate) fn request_cancel(h: u32) {
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
pub(crate) fn set_cancellation_type(h: u32, ty: CancellationType) -> u32 {
    if ty != CancellationType::WaitCancellationCompleted {
        STATE.with(|s| s.borrow_mut().cancellation_types.insert(h, ty));
    }
    h
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Something the workflow can wait on: an [`Activity`](crate::Activity), a
/// [`Timer`](crate::Timer), a [`NexusOperation`](crate::NexusOperation), a
/// [`ChildWorkflow`](crate::ChildWorkflow) or an [`ExternalOperation`](crate::ExternalOperation).
pub trait Pending {
    /// The host handle of the operation.
    fn handle(&self) -> u32;
}

/// Blocks until one of `pending` resolves and returns its index. When several are resolved,
/// the one resolved first in the history wins, so replays pick the same one. Read an
/// activity's result afterwards with [`Activity::result`](crate::Activity::result); it returns
/// at once.
pub fn select(pending: &[&dyn Pending]) -> usize {
    assert!(!pending.is_empty(), "select needs at least one operation");
    let handles: Vec<u32> = pending.iter().map(|p| p.handle()).collect();
    let (handle, _) = wait(&handles);
    handles
        .iter()
        .position(|h| *h == handle)
        .expect("the host resolved one of the handles asked for")
}

/// Starts `task` beside the main code of an async workflow
/// ([`workflow_async!`](crate::workflow_async!)). Tasks run one at a time, in the order they
/// were started, whenever the running one waits: the interleaving is the same on every replay.
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    tasks::spawn(task);
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
/// code, async update handlers
/// ([`set_update_handler_async`](crate::set_update_handler_async)) and [`spawn`]ed tasks run
/// as coroutines of one deterministic scheduler, so a handler can wait on an activity while the
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

//! One Workflow Task: load the run, instantiate its component, replay the history, and commit
//! the new commands or record the task failure.
//!
//! A task either commits all of its commands and events in one write transaction or commits
//! nothing but a WorkflowTaskFailed. Non-determinism, traps and exceeded limits fail the task
//! (retried with backoff; the execution stays open); a workflow returning an error fails the
//! execution. This module does not decide when tasks run; `api` schedules them.

use crate::clock::Clock;
use crate::history::{Event, EventKind, Failure, Payload, WorkflowTaskFailedCause};
use crate::ids::RunId;
use crate::limits::Limits;
use crate::replay::{
    Extra, Interrupt, QueryRequest, Replay, Resume, RunInfo, Served, StickyLink, UpdateRequest,
    UpdateState, describe_command,
};
use crate::sandbox::{CompiledWorkflow, Sandbox};
use crate::sticky::{Report, StickyCache, Worker};
use crate::store::{Effects, RunRecord, Store, StoreError, TaskCompletion};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;
use tracing::{info, warn};

/// Milliseconds since the Unix epoch, by the system clock (callers without a host's
/// injected clock: the CLI and the read-only paths).
pub fn now_ms() -> u64 {
    use weft_core::clock::Clock;
    weft_core::clock::SystemClock.now_ms()
}

/// What became of a task.
#[derive(Debug, PartialEq)]
pub enum TaskOutcome {
    /// Commands committed.
    Completed(Effects),
    /// The task failed and will be retried.
    Failed {
        /// Cause.
        cause: WorkflowTaskFailedCause,
        /// Message recorded.
        message: String,
    },
    /// The history grew while the task ran; run it again.
    Conflict,
    /// The run reached its history limit and was terminated.
    Terminated(String),
    /// Nothing to do (run closed, no task pending, or not yet due), or a speculative update
    /// task that was rejected and left no trace.
    Skipped,
}

/// Outcome of running the guest, before anything is committed.
pub enum GuestOutcome {
    /// The task's commands (the code suspended or finished).
    Commands(Vec<crate::store::Command>),
    /// The task failed.
    Failed(WorkflowTaskFailedCause, String),
    /// The run must be terminated (history limit).
    Terminate(String),
    /// A query's answer.
    Query(Result<Payload, Failure>),
    /// A cached instance could not continue on this history; replay from the start.
    Stale,
}

/// The host's sticky cache of suspended workflow instances.
pub type Cache = StickyCache<GuestOutcome>;

/// What the host knows about a namespace's workflows when it runs a task.
pub struct TaskEnv<'a> {
    /// The database.
    pub store: &'a Store,
    /// The engine.
    pub sandbox: &'a Sandbox,
    /// Registered components by workflow type.
    pub workflows: &'a HashMap<String, CompiledWorkflow>,
    /// The namespace's limits.
    pub limits: &'a Limits,
    /// What the namespace serves.
    pub served: &'a Arc<Served>,
    /// The sticky cache, if on.
    pub cache: Option<&'a Cache>,
    /// Lets a watchdog outside the task give up on it (the workflow-task loop passes one).
    pub probe: Option<&'a TaskProbe>,
    /// Where the task's times (its start, its commit, its retry) come from.
    pub clock: &'a dyn Clock,
}

/// Where a Workflow Task is, shared with the watchdog that enforces the task's time limit
/// from outside the guest: the guest's own time limit (epoch interruption) only fires in
/// guest code, so a task still running the guest past that limit plus a grace is blocked
/// inside a host call. The watchdog then records the task as failed and frees its slot; the
/// task, if it ever returns, commits nothing.
#[derive(Default)]
pub struct TaskProbe {
    state: std::sync::atomic::AtomicU8,
    attempt: std::sync::atomic::AtomicU32,
    started_ms: std::sync::atomic::AtomicU64,
}

const PROBE_LOADING: u8 = 0;
const PROBE_RUNNING: u8 = 1;
const PROBE_COMMITTING: u8 = 2;
const PROBE_TIMED_OUT: u8 = 3;

impl TaskProbe {
    fn advance(&self, from: u8, to: u8) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.state
            .compare_exchange(from, to, SeqCst, SeqCst)
            .is_ok()
    }

    /// Called by the watchdog: gives up on the task unless it is already committing. Returns
    /// what the task was doing, its attempt and start time, or `None` if it is committing.
    pub fn time_out(&self) -> Option<(&'static str, u32, u64)> {
        use std::sync::atomic::Ordering::SeqCst;
        let what = if self.advance(PROBE_LOADING, PROBE_TIMED_OUT) {
            "loading the run's history"
        } else if self.advance(PROBE_RUNNING, PROBE_TIMED_OUT) {
            "blocked inside a call into the host (guest code itself is stopped by the time limit)"
        } else {
            return None;
        };
        Some((
            what,
            self.attempt.load(SeqCst),
            self.started_ms.load(SeqCst),
        ))
    }
}

/// Runs the pending Workflow Task of `run`, if it is due, with the components and limits of
/// the run's namespace.
pub fn run_workflow_task(env: &TaskEnv<'_>, run: RunId) -> Result<TaskOutcome, StoreError> {
    run_task(env, run, Extra::None).map(|(o, _)| o)
}

/// Runs a Workflow Task of `run` that delivers the new update `update` (and processes whatever
/// else the history holds). An accepted update is committed with the task; a rejected one
/// leaves no trace, and when no Workflow Task was pending nothing is committed at all
/// (Temporal's speculative task). Returns what became of the task and of the update.
pub fn run_update_task(
    env: &TaskEnv<'_>,
    run: RunId,
    update: UpdateRequest,
) -> Result<(TaskOutcome, UpdateState), StoreError> {
    let (outcome, state) = run_task(env, run, Extra::Update(update))?;
    Ok((outcome, state.unwrap_or(UpdateState::Pending)))
}

/// Answers `query` from the state `run`'s code had at the end of its last completed Workflow
/// Task (events no task has processed yet, such as a signal just recorded, are not seen, as in
/// Temporal). Nothing is recorded. Works on closed runs when the workflow's SDK serves queries
/// after the workflow function returned.
pub fn run_query(
    env: &TaskEnv<'_>,
    run: RunId,
    query: QueryRequest,
) -> Result<Result<Result<Payload, Failure>, String>, StoreError> {
    let (rec, history) = env.store.load_run(run)?;
    let Some(compiled) = env.workflows.get(&rec.workflow_type) else {
        return Ok(Err(format!(
            "workflow type '{}' is not registered in namespace {} on this host",
            rec.workflow_type, rec.namespace
        )));
    };
    Ok(query_history(
        env.sandbox,
        compiled,
        env.limits,
        env.served,
        run,
        &rec,
        &history,
        query,
    ))
}

/// [`run_query`] on a history already read (the `weft query` command reads it while a host
/// may hold the file).
#[allow(clippy::too_many_arguments)]
pub fn query_history(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
    rec: &RunRecord,
    history: &[Event],
    query: QueryRequest,
) -> Result<Result<Payload, Failure>, String> {
    // The state of the last completed Workflow Task, not of events no task has processed.
    let (upto, task_ms) = processed_by_tasks(history);
    let history = &history[..upto];
    let replay = Replay::new(
        run,
        rec.workflow_id.clone(),
        history,
        1,
        task_ms.unwrap_or_else(now_ms),
        limits.clone(),
        served.clone(),
    )
    .with_info(run_info(rec))
    .with_extra(Extra::Query(query));
    let limit = task_time_limit(limits, rec);
    match execute(sandbox, compiled, replay, &start_input(history), limit) {
        GuestOutcome::Query(answer) => Ok(answer),
        GuestOutcome::Failed(cause, message) => Err(format!("{cause:?}: {message}")),
        GuestOutcome::Terminate(reason) => Err(reason),
        GuestOutcome::Commands(_) => Err(
            "the workflow returned without answering the query (its SDK does not answer queries once the workflow function returned)".into(),
        ),
        GuestOutcome::Stale => Err("internal: a query ran on a cached instance".into()),
    }
}

/// How many events of `history` the code has processed: everything through the last completed
/// Workflow Task and the commands it recorded (as Temporal answers a query from the state of
/// the last completed task), and the start time of that task. Before any task completed, the
/// events before the first task.
fn processed_by_tasks(history: &[Event]) -> (usize, Option<u64>) {
    let Some(done) = history
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
    else {
        let first = history
            .iter()
            .position(|e| matches!(e.kind, EventKind::WorkflowTaskScheduled { .. }))
            .unwrap_or(history.len());
        return (first, None);
    };
    let started_ms = done.checked_sub(1).map(|i| history[i].time_ms);
    // The events the task's commit recorded from its commands follow it.
    let recorded_by_task = |k: &EventKind| {
        matches!(
            k,
            EventKind::ActivityTaskScheduled { .. }
                | EventKind::TimerStarted { .. }
                | EventKind::ActivityTaskCancelRequested { .. }
                | EventKind::TimerCanceled { .. }
                | EventKind::NexusOperationScheduled { .. }
                | EventKind::NexusOperationCancelRequested { .. }
                | EventKind::MarkerRecorded { .. }
                | EventKind::StartChildWorkflowExecutionInitiated { .. }
                | EventKind::RequestCancelExternalWorkflowExecutionInitiated { .. }
                | EventKind::SignalExternalWorkflowExecutionInitiated { .. }
                | EventKind::WorkflowExecutionUpdateAccepted { .. }
                | EventKind::WorkflowExecutionUpdateCompleted { .. }
                | EventKind::WorkflowExecutionCompleted { .. }
                | EventKind::WorkflowExecutionFailed { .. }
                | EventKind::WorkflowExecutionCanceled { .. }
                | EventKind::WorkflowExecutionContinuedAsNew { .. }
        )
    };
    let end = history[done + 1..]
        .iter()
        .position(|e| !recorded_by_task(&e.kind))
        .map_or(history.len(), |n| done + 1 + n);
    (end, started_ms)
}

fn run_info(rec: &RunRecord) -> RunInfo {
    RunInfo {
        attempt: rec.attempt,
        continued_from: rec.previous_run,
        parent_workflow_id: rec.parent.as_ref().map(|p| p.workflow_id.clone()),
    }
}

fn start_input(history: &[Event]) -> Payload {
    match history.first().map(|e| &e.kind) {
        Some(EventKind::WorkflowExecutionStarted { input, .. }) => input.clone(),
        _ => Payload::default(),
    }
}

fn task_time_limit(limits: &Limits, rec: &RunRecord) -> Duration {
    match rec.options.task_timeout_ms {
        Some(ms) => limits.max_task_time.min(Duration::from_millis(ms)),
        None => limits.max_task_time,
    }
}

fn prepare(
    env: &TaskEnv<'_>,
    run: RunId,
    rec: &RunRecord,
    history: &[Event],
    attempt: u32,
    started_ms: u64,
) -> Replay {
    Replay::new(
        run,
        rec.workflow_id.clone(),
        history,
        attempt,
        started_ms,
        env.limits.clone(),
        env.served.clone(),
    )
    .with_info(run_info(rec))
}

fn run_task(
    env: &TaskEnv<'_>,
    run: RunId,
    extra: Extra,
) -> Result<(TaskOutcome, Option<UpdateState>), StoreError> {
    let store = env.store;
    let limits = env.limits;
    let started_ms = env.clock.now_ms();
    let (rec, history) = store.load_run(run)?;
    let history: Arc<[Event]> = history.into();
    let speculative = rec.workflow_task.is_none();
    let is_update = matches!(extra, Extra::Update(_));
    let attempt = rec.workflow_task.as_ref().map_or(1, |p| p.attempt);
    if rec.status.is_closed() {
        return Ok((TaskOutcome::Skipped, None));
    }
    match &rec.workflow_task {
        None if !is_update => return Ok((TaskOutcome::Skipped, None)),
        Some(p) if !is_update && p.due_ms > started_ms => {
            return Ok((TaskOutcome::Skipped, None));
        }
        _ => {}
    }
    let span = tracing::info_span!(
        "workflow_task",
        namespace = %rec.namespace,
        workflow_id = %rec.workflow_id,
        run_id = %run,
        attempt,
        events = history.len()
    );
    let _enter = span.enter();
    let events = rec.next_event_id - 1;
    if events >= limits.max_history_events || rec.history_bytes >= limits.max_history_bytes {
        let reason = format!(
            "the history reached its limit ({events} events, {} bytes; limits {} events, {} bytes); a long-running workflow must continue as a new run before that",
            rec.history_bytes, limits.max_history_events, limits.max_history_bytes
        );
        return terminate(store, run, reason, env.clock).map(|o| (o, None));
    }
    if events >= limits.warn_history_events || rec.history_bytes >= limits.warn_history_bytes {
        warn!(
            events,
            bytes = rec.history_bytes,
            "the history is large and approaches its limit ({} events, {} bytes), where the run is terminated; continue the workflow as a new run",
            limits.max_history_events,
            limits.max_history_bytes
        );
    }
    if let Some(p) = env.probe {
        use std::sync::atomic::Ordering::SeqCst;
        p.attempt.store(attempt, SeqCst);
        p.started_ms.store(started_ms, SeqCst);
        if !p.advance(PROBE_LOADING, PROBE_RUNNING) {
            return Ok((TaskOutcome::Skipped, None));
        }
    }
    let mut update_state = None;
    let mut worker = None;
    let outcome = match env.workflows.get(&rec.workflow_type) {
        None => GuestOutcome::Failed(
            WorkflowTaskFailedCause::InstantiationFailed,
            format!(
                "workflow type '{}' is not registered in namespace {} on this host; register its component and the task will be retried",
                rec.workflow_type, rec.namespace
            ),
        ),
        Some(compiled) if matches!(extra, Extra::None) && env.cache.is_some() => {
            let cache = env.cache.expect("checked");
            let (outcome, w) = run_cached(
                env, cache, compiled, run, &rec, &history, attempt, started_ms,
            );
            worker = w;
            outcome
        }
        Some(compiled) => {
            let replay = prepare(env, run, &rec, &history, attempt, started_ms).with_extra(extra);
            let (outcome, state) = execute_with_state(
                env.sandbox,
                compiled,
                replay,
                &start_input(&history),
                task_time_limit(env.limits, &rec),
            );
            update_state = Some(state);
            outcome
        }
    };
    // A validator that failed (a panic, a trap) rejects its update, as in Temporal; nothing of
    // the task is recorded and a pending task runs again without the update.
    if let (GuestOutcome::Failed(_, message), Some(UpdateState::Validating)) =
        (&outcome, &update_state)
    {
        warn!(%message, "the update's validator failed; the update is rejected");
        let failure = Failure::new(
            "UpdateValidatorFailed",
            format!("the update's validator failed: {message}"),
        )
        .non_retryable();
        return Ok((TaskOutcome::Skipped, Some(UpdateState::Rejected(failure))));
    }
    let accepted = matches!(update_state, Some(UpdateState::Accepted));
    if let Some(p) = env.probe
        && !p.advance(PROBE_RUNNING, PROBE_COMMITTING)
    {
        warn!("the watchdog gave up on this task while it ran; its result is dropped");
        return Ok((TaskOutcome::Skipped, None));
    }
    // Whatever the task records, it records in its namespace's turn at the writer.
    let _turn = store.lane(&rec.namespace);
    match outcome {
        GuestOutcome::Commands(commands) => {
            if speculative && !accepted && commands.is_empty() {
                // A rejected (or undelivered) update with nothing else to do: no trace.
                return Ok((TaskOutcome::Skipped, update_state));
            }
            let n = commands.len();
            let completion = TaskCompletion {
                run,
                expected_next_event_id: rec.next_event_id,
                attempt,
                started_ms,
                commands,
            };
            match store.complete_workflow_task(completion, env.clock.now_ms()) {
                // The task would have passed the history limit: nothing of it was recorded
                // and the store terminated the run.
                Ok(Effects {
                    terminated: Some(reason),
                    ..
                }) => {
                    warn!(%reason, "the run was terminated at its history limit");
                    Ok((TaskOutcome::Terminated(reason), update_state))
                }
                Ok(fx) => {
                    info!(commands = n, closed = fx.closed, "workflow task completed");
                    if let (Some(mut w), Some(cache)) = (worker, env.cache) {
                        w.known_next = fx.next_event_id;
                        cache.put(run, w);
                    }
                    Ok((TaskOutcome::Completed(fx), update_state))
                }
                Err(StoreError::Conflict(..)) => Ok((TaskOutcome::Conflict, update_state)),
                Err(e) => Err(e),
            }
        }
        GuestOutcome::Query(_) | GuestOutcome::Stale => Ok((TaskOutcome::Skipped, update_state)),
        GuestOutcome::Terminate(reason) => {
            terminate(store, run, reason, env.clock).map(|o| (o, None))
        }
        GuestOutcome::Failed(cause, message) if speculative => {
            warn!(?cause, %message, "speculative workflow task for an update failed; nothing recorded");
            Ok((TaskOutcome::Failed { cause, message }, update_state))
        }
        GuestOutcome::Failed(cause, message) => {
            let retry_at =
                env.clock.now_ms() + limits.workflow_task_backoff(attempt + 1).as_millis() as u64;
            warn!(?cause, %message, retry_at, "workflow task failed; the execution stays open and the task will be retried");
            store.fail_workflow_task(
                run,
                attempt,
                started_ms,
                cause.clone(),
                &message,
                retry_at,
            )?;
            Ok((TaskOutcome::Failed { cause, message }, update_state))
        }
    }
}

/// Runs a normal task through the sticky cache: resumes the run's cached instance if it can
/// continue on `history`, otherwise replays from the start on a new instance that stays
/// suspended for the next task. Returns the instance when it suspended.
#[allow(clippy::too_many_arguments)]
fn run_cached(
    env: &TaskEnv<'_>,
    cache: &Cache,
    compiled: &CompiledWorkflow,
    run: RunId,
    rec: &RunRecord,
    history: &Arc<[Event]>,
    attempt: u32,
    started_ms: u64,
) -> (GuestOutcome, Option<Worker<GuestOutcome>>) {
    if let Some(w) = cache.take(run)
        && w.compiled_id == compiled.id()
    {
        let sent = w.resume.send(Resume::Continue {
            history: history.clone(),
            attempt,
            started_ms,
            known_next: w.known_next,
        });
        if sent.is_ok() {
            match next_report(w, env.probe) {
                (GuestOutcome::Stale, _) => {}
                other => return other,
            }
        }
    }
    let limit = task_time_limit(env.limits, rec);
    let (report_tx, reports) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel();
    let tx = report_tx.clone();
    let link = StickyLink {
        suspended: Box::new(move |commands| tx.send(Report::Suspended(commands)).is_ok()),
        resume: resume_rx,
    };
    let replay = prepare(env, run, rec, history, attempt, started_ms).with_sticky(link);
    let mut store = env.sandbox.sticky_store(replay, limit);
    let memory = store.data().memory();
    let input = start_input(history);
    let compiled2 = compiled.clone();
    let spawned = std::thread::Builder::new()
        .name("weft-workflow".into())
        .stack_size(env.limits.max_wasm_stack_bytes + 2 * 1024 * 1024)
        .spawn(move || {
            let result = compiled2.run(&mut store, &input.0);
            let outcome = guest_outcome(&mut store.data_mut().replay, result, limit);
            let _ = report_tx.send(Report::Done(outcome));
        });
    if let Err(e) = spawned {
        return (
            GuestOutcome::Failed(
                WorkflowTaskFailedCause::InstantiationFailed,
                format!("cannot start a thread for the workflow: {e}"),
            ),
            None,
        );
    }
    next_report(
        Worker {
            resume,
            reports,
            compiled_id: compiled.id(),
            memory,
            known_next: 0,
        },
        env.probe,
    )
}

/// Waits for the instance to suspend (it is returned for the cache) or finish. Gives up (and
/// drops the instance) if the watchdog gave up on the task meanwhile, so no thread of the host
/// waits on a stuck guest.
fn next_report(
    w: Worker<GuestOutcome>,
    probe: Option<&TaskProbe>,
) -> (GuestOutcome, Option<Worker<GuestOutcome>>) {
    let report = loop {
        match w.reports.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => break Ok(r),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let timed_out = probe.is_some_and(|p| {
                    p.state.load(std::sync::atomic::Ordering::SeqCst) == PROBE_TIMED_OUT
                });
                if timed_out {
                    return (
                        GuestOutcome::Failed(
                            WorkflowTaskFailedCause::LimitExceeded,
                            "the watchdog gave up on the cached instance".into(),
                        ),
                        None,
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err(()),
        }
    };
    match report {
        Ok(Report::Suspended(commands)) => (GuestOutcome::Commands(commands), Some(w)),
        Ok(Report::Done(outcome)) => (outcome, None),
        Err(()) => (
            GuestOutcome::Failed(
                WorkflowTaskFailedCause::GuestTrap,
                "the workflow's thread ended without a report".into(),
            ),
            None,
        ),
    }
}

fn terminate(
    store: &Store,
    run: RunId,
    reason: String,
    clock: &dyn Clock,
) -> Result<TaskOutcome, StoreError> {
    warn!(%reason, "terminating the run");
    store.terminate(run, &reason, clock.now_ms())?;
    Ok(TaskOutcome::Terminated(reason))
}

fn execute(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    replay: Replay,
    input: &Payload,
    limit: Duration,
) -> GuestOutcome {
    execute_with_state(sandbox, compiled, replay, input, limit).0
}

fn execute_with_state(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    replay: Replay,
    input: &Payload,
    limit: Duration,
) -> (GuestOutcome, UpdateState) {
    let mut wasm_store = sandbox.store(replay, limit);
    let result = compiled.run(&mut wasm_store, &input.0);
    let replay = &mut wasm_store.data_mut().replay;
    let outcome = guest_outcome(replay, result, limit);
    (outcome, replay.update_state().clone())
}

fn guest_outcome(
    replay: &mut Replay,
    result: wasmtime::Result<Result<Vec<u8>, Failure>>,
    limit: Duration,
) -> GuestOutcome {
    match result {
        Ok(ret) => match replay.finish(ret) {
            Ok(commands) => GuestOutcome::Commands(commands),
            Err(i) => interrupt_failure(i),
        },
        Err(err) => match replay.interrupt().cloned() {
            Some(Interrupt::Suspend | Interrupt::ContinuedAsNew) => {
                GuestOutcome::Commands(replay.take_commands())
            }
            Some(Interrupt::Stale(_)) => GuestOutcome::Stale,
            Some(Interrupt::QueryAnswered) => GuestOutcome::Query(
                replay
                    .query_answer()
                    .cloned()
                    .expect("an answered query has its answer"),
            ),
            Some(i) => interrupt_failure(i),
            None => {
                if let Some(wasmtime::Trap::Interrupt) = err.downcast_ref::<wasmtime::Trap>() {
                    let mut message = format!(
                        "the Workflow Task passed its time limit of {limit:?} (wall-clock time from the start of the task) while running the workflow's own code, which neither finished nor waited on its history; a workflow must not loop or compute for long (move heavy work into an activity)",
                    );
                    append_backtrace(&mut message, &err);
                    return GuestOutcome::Failed(WorkflowTaskFailedCause::LimitExceeded, message);
                }
                let log = replay.log();
                let tail = log.stderr_tail.lock().expect("stderr lock");
                let stderr = String::from_utf8_lossy(&tail);
                let stderr = stderr.trim();
                let mut message = match err.downcast_ref::<wasmtime::Trap>() {
                    Some(trap) => format!("the workflow trapped: {trap}"),
                    None => format!("the workflow trapped: {}", err.root_cause()),
                };
                if !stderr.is_empty() {
                    message.push_str(&format!("\nguest stderr: {stderr}"));
                }
                append_backtrace(&mut message, &err);
                GuestOutcome::Failed(WorkflowTaskFailedCause::GuestTrap, message)
            }
        },
    }
}

/// Appends where the guest was (the innermost frames of its backtrace) to a failure message.
fn append_backtrace(message: &mut String, err: &wasmtime::Error) {
    let Some(bt) = err.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return;
    };
    // Backtraces are capped; a capped one made of one function calling itself is the
    // signature of runaway recursion.
    let frames = bt.frames();
    let repeated = frames
        .windows(2)
        .filter(|w| w[0].func_index() == w[1].func_index())
        .count();
    if frames.len() >= 16 && repeated + 3 >= frames.len() {
        message.push_str(
            "\nthe same function fills the call stack: probably unbounded recursion overflowed the guest's stack",
        );
    }
    // The innermost frames only; a deep recursion has thousands.
    let text = bt.to_string();
    let frames: Vec<&str> = text.lines().take(9).collect();
    message.push('\n');
    message.push_str(&frames.join("\n"));
}

fn interrupt_failure(i: Interrupt) -> GuestOutcome {
    if let Interrupt::HistoryLimit(reason) = i {
        return GuestOutcome::Terminate(reason);
    }
    let cause = match &i {
        Interrupt::HistoryLimit(_) => unreachable!("handled above"),
        Interrupt::NonDeterminism(_) => WorkflowTaskFailedCause::NonDeterminism,
        Interrupt::Limit(_) => WorkflowTaskFailedCause::LimitExceeded,
        Interrupt::InvalidCall(_) => WorkflowTaskFailedCause::BadCommand,
        Interrupt::UnhandledMessages(_) => WorkflowTaskFailedCause::UnhandledCommand,
        Interrupt::Suspend
        | Interrupt::ContinuedAsNew
        | Interrupt::QueryAnswered
        | Interrupt::Evicted
        | Interrupt::Stale(_) => WorkflowTaskFailedCause::GuestTrap,
    };
    GuestOutcome::Failed(cause, i.to_string())
}

/// Replays the complete history of a closed run against `compiled` and checks that the code
/// reaches the same end: the same commands and the same result or failure. This is how a new
/// build of a workflow is checked against recorded histories before it is deployed.
pub fn verify_replay(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
    workflow_id: crate::ids::WorkflowId,
    history: &[crate::history::Event],
) -> Result<(), String> {
    use crate::history::EventKind;
    use crate::store::Command;
    let input = match history.first().map(|e| &e.kind) {
        Some(EventKind::WorkflowExecutionStarted { input, .. }) => input.clone(),
        _ => return Err("the history does not start with WorkflowExecutionStarted".into()),
    };
    let expected = history.iter().rev().find_map(|e| match &e.kind {
        EventKind::WorkflowExecutionCompleted { result } => Some(Command::CompleteWorkflow {
            result: result.clone(),
        }),
        EventKind::WorkflowExecutionFailed { failure } => Some(Command::FailWorkflow {
            failure: failure.clone(),
        }),
        EventKind::WorkflowExecutionCanceled { details } => Some(Command::CancelWorkflow {
            details: details.clone(),
        }),
        EventKind::WorkflowExecutionContinuedAsNew { input, .. } => Some(Command::ContinueAsNew {
            input: input.clone(),
        }),
        _ => None,
    });
    let Some(expected) = expected else {
        return Err("the run is still open; only closed runs can be verified".into());
    };
    // The closing task's commands are in the history; replay everything before them.
    let close_task = history
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
        .ok_or("the history has no completed Workflow Task")?;
    let started_ms = history[close_task - 1].time_ms;
    let replay = Replay::new(
        run,
        workflow_id,
        &history[..close_task - 1],
        1,
        started_ms,
        limits.clone(),
        served.clone(),
    );
    match execute(sandbox, compiled, replay, &input, limits.max_task_time) {
        GuestOutcome::Query(_) | GuestOutcome::Stale => {
            Err("the replay answered a query instead of running".into())
        }
        GuestOutcome::Failed(cause, message) => Err(format!("{cause:?}: {message}")),
        GuestOutcome::Terminate(reason) => Err(reason),
        GuestOutcome::Commands(commands) => {
            let recorded: Vec<String> = history[close_task + 1..]
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::ActivityTaskScheduled {
                        activity_type,
                        input,
                        start_to_close_timeout_ms,
                        retry_policy,
                        schedule_to_close_timeout_ms,
                        schedule_to_start_timeout_ms,
                        heartbeat_timeout_ms,
                        task_queue,
                    } => Some(signature(&Command::ScheduleActivity {
                        activity_type: activity_type.clone(),
                        input: input.clone(),
                        start_to_close_timeout_ms: *start_to_close_timeout_ms,
                        retry_policy: retry_policy.clone(),
                        schedule_to_close_timeout_ms: *schedule_to_close_timeout_ms,
                        schedule_to_start_timeout_ms: *schedule_to_start_timeout_ms,
                        heartbeat_timeout_ms: *heartbeat_timeout_ms,
                        task_queue: task_queue.clone(),
                    })),
                    EventKind::TimerStarted { duration_ms, .. } => {
                        Some(signature(&Command::StartTimer {
                            duration_ms: *duration_ms,
                        }))
                    }
                    EventKind::NexusOperationScheduled {
                        endpoint,
                        service,
                        operation,
                        input,
                        schedule_to_close_timeout_ms,
                        ..
                    } => Some(signature(&Command::ScheduleNexusOperation {
                        endpoint: endpoint.clone(),
                        service: service.clone(),
                        operation: operation.clone(),
                        input: input.clone(),
                        schedule_to_close_timeout_ms: *schedule_to_close_timeout_ms,
                    })),
                    EventKind::ActivityTaskCancelRequested { .. } => {
                        Some("RequestCancelActivityTask".into())
                    }
                    EventKind::TimerCanceled { .. } => Some("CancelTimer".into()),
                    EventKind::NexusOperationCancelRequested { .. } => {
                        Some("RequestCancelNexusOperation".into())
                    }
                    EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                        initiated_event_id: crate::ids::EventId(0),
                        workflow_id,
                        ..
                    } => Some(signature(&Command::RequestCancelExternal {
                        workflow_id: crate::ids::WorkflowId(workflow_id.clone()),
                        run_id: None,
                        reason: String::new(),
                    })),
                    EventKind::RequestCancelExternalWorkflowExecutionInitiated { .. } => {
                        Some("RequestCancelExternalWorkflowExecution".into())
                    }
                    EventKind::SignalExternalWorkflowExecutionInitiated {
                        workflow_id,
                        run_id,
                        signal_name,
                        input,
                    } => Some(signature(&Command::SignalExternal {
                        workflow_id: crate::ids::WorkflowId(workflow_id.clone()),
                        run_id: run_id.clone(),
                        signal_name: signal_name.clone(),
                        input: input.clone(),
                    })),
                    EventKind::MarkerRecorded {
                        marker_name,
                        details,
                    } => Some(signature(&Command::RecordMarker {
                        marker_name: marker_name.clone(),
                        details: details.clone(),
                    })),
                    EventKind::StartChildWorkflowExecutionInitiated {
                        workflow_id,
                        workflow_type,
                        input,
                        parent_close_policy,
                        options,
                    } => Some(signature(&Command::StartChild {
                        workflow_type: workflow_type.clone(),
                        workflow_id: crate::ids::WorkflowId(workflow_id.clone()),
                        input: input.clone(),
                        policy: *parent_close_policy,
                        options: options.clone(),
                    })),
                    EventKind::WorkflowExecutionUpdateCompleted {
                        update_id,
                        result,
                        failure,
                    } => Some(signature(&Command::CompleteUpdate {
                        update_id: update_id.clone(),
                        outcome: match (result, failure) {
                            (_, Some(f)) => Err(f.clone()),
                            (r, None) => Ok(r.clone().unwrap_or_default()),
                        },
                    })),
                    EventKind::WorkflowExecutionCompleted { .. }
                    | EventKind::WorkflowExecutionFailed { .. }
                    | EventKind::WorkflowExecutionCanceled { .. }
                    | EventKind::WorkflowExecutionContinuedAsNew { .. } => {
                        Some(signature(&expected))
                    }
                    _ => None,
                })
                .collect();
            let commands: Vec<String> = commands.iter().map(signature).collect();
            if commands == recorded {
                Ok(())
            } else {
                Err(format!(
                    "replay produced different final commands.\n recorded: {recorded:?}\n replayed: {commands:?}"
                ))
            }
        }
    }
}

/// A command in a form that compares equal between a recorded and a replayed task: full
/// attributes, except that cancel requests are compared by kind (their target is an event id
/// in one and a command index in the other).
fn signature(cmd: &crate::store::Command) -> String {
    use crate::store::Command;
    match cmd {
        Command::RequestCancelActivity { .. }
        | Command::CancelTimer { .. }
        | Command::RequestCancelNexusOperation { .. }
        | Command::RequestCancelChild { .. } => describe_command(cmd),
        // The recorded event keeps only the target's workflow id.
        Command::RequestCancelExternal { .. } => describe_command(cmd),
        other => format!("{other:?}"),
    }
}

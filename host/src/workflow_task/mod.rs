//! One Workflow Task: load the run, instantiate its component, replay the history, and commit
//! the new commands or record the task failure.
//!
//! A task either commits all of its commands and events in one write transaction or commits
//! nothing but a WorkflowTaskFailed. Non-determinism, traps and exceeded limits fail the task
//! (retried with backoff; the execution stays open); a workflow returning an error fails the
//! execution. This module does not decide when tasks run; `api` schedules them.

use crate::clock::Clock;
use crate::command::Command;
use crate::components::Components;
use crate::history::{Event, EventKind, Failure, Payload, WorkflowTaskFailedCause};
use crate::ids::{Namespace, RunId};
use crate::limits::Limits;
use crate::replay::{
    Extra, Interrupt, QueryRequest, Replay, Resume, RunInfo, Served, StickyLink, UpdateRequest,
    UpdateState, describe_command,
};
use crate::sandbox::{CompiledWorkflow, Sandbox};
use crate::sticky::{self, Report, StickyCache, Worker};
use crate::store::{
    Effects, LeasedActivity, LoadedRun, RunRecord, Store, StoreError, TaskCompletion, queue_key,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

mod cached;
mod guest;
mod query;
mod verify;

use cached::run_cached;
use guest::guest_outcome;
use guest::{execute, execute_with_state};
pub use query::{query_history, run_query};
pub use verify::{check_open_run, verify_replay};

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
    Commands(Vec<Command>),
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
    /// Every registered version of the namespace's components.
    pub components: &'a Components,
    /// Record which version runs each run (a host does; a tool working on a file with a
    /// component it was given does not).
    pub pins: bool,
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
    /// Runs the task's new activities at once when their queue is served here (the host
    /// passes one; tools working on a file do not).
    pub eager: Option<&'a dyn EagerActivities>,
}

/// Eager activity execution: a task's new activities whose queue this host serves, while the
/// queue has room, are leased by the task's own commit and run at once, without a lease
/// commit of their own. The lease is the same as one taken from the queue, so a host that
/// dies running one leaves it to be retried as any leased attempt.
pub trait EagerActivities: Sync {
    /// Room for up to `n` activities of queue `queue_key` of `namespace` now: one token per
    /// activity it can run (dropping a token gives its room back).
    fn reserve(&self, namespace: &Namespace, queue_key: &str, n: usize) -> Vec<EagerRoom>;
    /// Runs `leased`, leased by the commit, in `room`.
    fn run(&self, leased: LeasedActivity, room: EagerRoom);
}

/// Room for one eager activity (see [`EagerActivities`]).
pub type EagerRoom = Box<dyn Send>;

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
    /// Called once the task is done with the guest and commits: the task's slot covers
    /// running the guest, not waiting for the group commit, so another task runs meanwhile.
    on_commit: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Called once the task's commit is durable and its instance back in the cache, before
    /// its eager activities start: the run may take its next task (an eager activity that
    /// ends at once runs the task it wakes itself).
    on_committed: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
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

    /// Runs `f` when the task starts committing (not at all if it never does).
    pub fn on_commit(&self, f: impl FnOnce() + Send + 'static) {
        *self.on_commit.lock().expect("probe lock") = Some(Box::new(f));
    }

    /// Runs `f` once the task's commit is durable (not at all if it never is).
    pub fn on_committed(&self, f: impl FnOnce() + Send + 'static) {
        *self.on_committed.lock().expect("probe lock") = Some(Box::new(f));
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

impl TaskEnv<'_> {
    /// The component `run` (of record `rec`) runs: the version it is pinned to when this host
    /// has it, otherwise the newest of its type. With `pins`, an unpinned run is pinned to the
    /// version it gets, and a run whose version this host no longer has is moved to the newest
    /// (as an embedding host that deploys a new build expects), with a warning.
    pub fn component_for(
        &self,
        run: RunId,
        rec: &RunRecord,
        pinned: Option<String>,
    ) -> Result<Option<&CompiledWorkflow>, StoreError> {
        if let Some(c) = pinned.as_deref().and_then(|d| self.components.version(d)) {
            return Ok(Some(c));
        }
        let Some(newest) = self.components.newest(&rec.workflow_type) else {
            return Ok(None);
        };
        if !self.pins {
            return Ok(Some(newest));
        }
        if let Some(old) = &pinned {
            warn!(
                run = %run,
                pinned = %old,
                now = %newest.digest(),
                "the run's component version is not registered on this host; it moves to the newest of its type"
            );
        }
        let now = self
            .store
            .pin_component(run, newest.digest(), pinned.is_some())?;
        Ok(Some(self.components.version(&now).unwrap_or(newest)))
    }
}

/// Runs the pending Workflow Task of `run`, if it is due, with the components and limits of
/// the run's namespace.
pub fn run_workflow_task(env: &TaskEnv<'_>, run: RunId) -> Result<TaskOutcome, StoreError> {
    run_task(env, run, Extra::None, None).map(|(o, _)| o)
}

/// [`run_workflow_task`] on the run as the caller read it (inside the write that woke the
/// task, whose commit the task's own then joins: see `Store::report_activity_then`).
pub fn run_loaded_workflow_task(
    env: &TaskEnv<'_>,
    run: RunId,
    loaded: LoadedRun,
) -> Result<TaskOutcome, StoreError> {
    run_task(env, run, Extra::None, Some(loaded)).map(|(o, _)| o)
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
    let (outcome, state) = run_task(env, run, Extra::Update(update), None)?;
    Ok((outcome, state.unwrap_or(UpdateState::Pending)))
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

// The steps of one task in order (load and check, run the guest, record); each branch is
// short, and splitting them would scatter the order a reader follows.
fn run_task(
    env: &TaskEnv<'_>,
    run: RunId,
    extra: Extra,
    loaded: Option<LoadedRun>,
) -> Result<(TaskOutcome, Option<UpdateState>), StoreError> {
    let store = env.store;
    let limits = env.limits;
    let started_ms = env.clock.now_ms();
    // A cached instance of the run needs only the events it has not seen.
    let seen = match (&extra, env.cache) {
        (Extra::None, Some(cache)) => cache.seen(run).unwrap_or(0),
        _ => 0,
    };
    let LoadedRun {
        rec,
        history,
        after,
        component,
    } = match loaded {
        Some(loaded) => loaded,
        None => store.load_task_run(run, seen)?,
    };
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
        events = rec.next_event_id - 1
    );
    let _enter = span.enter();
    if let Some(reason) = history_limit_reached(limits, &rec) {
        return terminate(store, run, reason, env.clock).map(|o| (o, None));
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
    let outcome = match env.component_for(run, &rec, component)? {
        None => GuestOutcome::Failed(
            WorkflowTaskFailedCause::InstantiationFailed,
            format!(
                "workflow type '{}' is not registered in namespace {} on this host; register its component and the task will be retried",
                rec.workflow_type, rec.namespace
            ),
        ),
        Some(compiled) if matches!(extra, Extra::None) && env.cache.is_some() => {
            let cache = env.cache.expect("checked");
            let began = std::time::Instant::now();
            let (outcome, w) = run_cached(
                env, cache, compiled, run, &rec, history, after, attempt, started_ms,
            )?;
            crate::telemetry::guest_ran(&rec.namespace, true, began.elapsed());
            worker = w;
            outcome
        }
        Some(compiled) => {
            let history = whole_history(store, run, after, history)?;
            let replay = prepare(env, run, &rec, &history, attempt, started_ms).with_extra(extra);
            let began = std::time::Instant::now();
            let (outcome, state) = execute_with_state(
                env.sandbox,
                compiled,
                replay,
                &start_input(&history),
                task_time_limit(env.limits, &rec),
            );
            crate::telemetry::guest_ran(&rec.namespace, false, began.elapsed());
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
    if let Some(p) = env.probe
        && let Some(f) = p.on_commit.lock().expect("probe lock").take()
    {
        f();
    }
    // Whatever the task records, it records in its namespace's turn at the writer.
    let _turn = store.lane(&rec.namespace);
    match outcome {
        GuestOutcome::Commands(commands) => {
            if speculative && !accepted && commands.is_empty() {
                // A rejected (or undelivered) update with nothing else to do: no trace.
                return Ok((TaskOutcome::Skipped, update_state));
            }
            commit(env, run, &rec, attempt, started_ms, commands, worker).map(|o| (o, update_state))
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

/// Commits the commands of a task that ran to a suspension or a close; a cached instance
/// (`worker`) goes back to the cache knowing where its commit ended.
fn commit(
    env: &TaskEnv<'_>,
    run: RunId,
    rec: &RunRecord,
    attempt: u32,
    started_ms: u64,
    commands: Vec<Command>,
    worker: Option<Worker<GuestOutcome>>,
) -> Result<TaskOutcome, StoreError> {
    let store = env.store;
    let n = commands.len();
    // Room for the new activities this host can run at once, by queue.
    let mut rooms: HashMap<String, Vec<EagerRoom>> = HashMap::new();
    if let Some(eager) = env.eager {
        let mut wanted: HashMap<String, usize> = HashMap::new();
        for c in &commands {
            if let Command::ScheduleActivity { task_queue, .. } = c {
                *wanted
                    .entry(queue_key(&rec.namespace, task_queue))
                    .or_default() += 1;
            }
        }
        for (qk, n) in wanted {
            let room = eager.reserve(&rec.namespace, &qk, n);
            if !room.is_empty() {
                rooms.insert(qk, room);
            }
        }
    }
    let completion = TaskCompletion {
        run,
        expected_next_event_id: rec.next_event_id,
        attempt,
        started_ms,
        commands,
        eager_slots: rooms.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
    };
    match store.complete_workflow_task(completion, env.clock.now_ms()) {
        // The task would have passed the history limit: nothing of it was recorded
        // and the store terminated the run.
        Ok(Effects {
            terminated: Some(reason),
            ..
        }) => {
            warn!(%reason, "the run was terminated at its history limit");
            Ok(TaskOutcome::Terminated(reason))
        }
        Ok(fx) => {
            info!(
                commands = n,
                closed = !fx.closed.is_empty(),
                "workflow task completed"
            );
            if let (Some(mut w), Some(cache)) = (worker, env.cache) {
                w.known_next = fx.next_event_id;
                w.seen = rec.next_event_id - 1;
                cache.put(run, w);
            }
            if let Some(f) = env
                .probe
                .and_then(|p| p.on_committed.lock().expect("probe lock").take())
            {
                f();
            }
            if let Some(eager) = env.eager {
                for leased in &fx.eager {
                    let qk = queue_key(&leased.namespace, &leased.task.task_queue);
                    let room = rooms.get_mut(&qk).and_then(Vec::pop);
                    // The commit leased no more than the rooms it was given.
                    let room = room.expect("a room for each eager activity");
                    eager.run(leased.clone(), room);
                }
            }
            Ok(TaskOutcome::Completed(fx))
        }
        Err(StoreError::Conflict(..)) => Ok(TaskOutcome::Conflict),
        Err(e) => Err(e),
    }
}

/// The whole history of `run`, given its events after event `after` (all of them when `after`
/// is 0). The events up to `after` were committed before (a cached instance saw them), and a
/// history only grows, so any later snapshot holds them as they were.
fn whole_history(
    store: &Store,
    run: RunId,
    after: u64,
    tail: Vec<Event>,
) -> Result<Vec<Event>, StoreError> {
    if after == 0 {
        return Ok(tail);
    }
    let (_, mut events) = store.load_run(run)?;
    events.truncate(after as usize);
    events.extend(tail);
    Ok(events)
}

/// The reason to terminate a run whose history is at its limit; warns when it approaches it.
fn history_limit_reached(limits: &Limits, rec: &RunRecord) -> Option<String> {
    let events = rec.next_event_id - 1;
    if events >= limits.max_history_events || rec.history_bytes >= limits.max_history_bytes {
        let reason = format!(
            "the history reached its limit ({events} events, {} bytes; limits {} events, {} bytes); a long-running workflow must continue as a new run before that",
            rec.history_bytes, limits.max_history_events, limits.max_history_bytes
        );
        return Some(reason);
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
    None
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

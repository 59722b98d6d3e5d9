//! The redb database: tables, schema version and every transaction that changes durable state.
//!
//! The history table is the truth; the run, task, queue, timer and deadline tables are
//! projections kept in step with it inside the same write transaction. Each public method that
//! changes state is one write transaction, opening every table once through `W`. This module
//! does not run guests, activities or Nexus handlers and makes no timing decisions: callers
//! pass `now`.
//!
//! Limits are checked inside the transaction that would pass them, never after a commit: each
//! appended event against its run's history limits, each opened run (start, child, Nexus
//! workflow operation) against its namespace's quotas, as [`NamespaceLimits`] says per
//! namespace ([`Store::with_limits`]). A change a run cannot do without (a task completion, a
//! result, a timer) that would pass a history limit terminates the run instead; a signal is
//! refused to its sender.
//!
//! Tables:
//! - `meta`: schema version.
//! - `ns_workflows`: (namespace, workflow id) -> current run id.
//! - `ns_usage`: namespace -> (open runs, stored history bytes), kept by every run update.
//! - `runs`: run id -> [`RunRecord`].
//! - `history`: (run id, event id) -> [`Event`].
//! - `workflow_tasks`: (due ms, run id) -> (): runs with a Workflow Task to process.
//! - `activity_tasks`: (run id, scheduled event id) -> [`ActivityTask`].
//! - `activity_queues`: ("namespace/queue", visible at ms, run id, scheduled event id) -> ():
//!   when each activity task may next be handed out (first attempt, retry, or lease expiry).
//! - `timers`: (fire at ms, run id, started event id) -> ().
//! - `deadlines`: (due ms, run id, scheduled event id) -> kind: activity schedule-to-close and
//!   schedule-to-start, Nexus schedule-to-close, run timeout (event id 0) and execution
//!   timeout (event id 1).
//! - `nexus_tasks`: (run id, scheduled event id) -> [`NexusTask`].
//! - `nexus_queue`: (visible at ms, run id, scheduled event id) -> (): Nexus starts and cancels
//!   to deliver.
//! - `nexus_tokens`: (namespace, operation token) -> (run id, scheduled event id).

use crate::history::{
    self, CancellationType, EncodingError, Event, EventKind, Failure, IdReusePolicy,
    ParentClosePolicy, Payload, RetryPolicy, WorkflowOptions, WorkflowTaskFailedCause,
};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use crate::limits::Limits;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
pub use weft_core::command::{Command, Target};

mod reset;
pub use reset::ResetRequest;

/// Schema version of the tables written by this release. Version 1 (no namespaces) is
/// migrated when opened for writing.
pub const SCHEMA_VERSION: u64 = 3;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Schema 1 only: workflow id -> run id. Migrated into `ns_workflows`.
const WORKFLOWS_V1: TableDefinition<&str, u128> = TableDefinition::new("workflows");
const WORKFLOWS: TableDefinition<(&str, &str), u128> = TableDefinition::new("ns_workflows");
const NS_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("ns_usage");
const RUNS: TableDefinition<u128, &[u8]> = TableDefinition::new("runs");
const HISTORY: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("history");
const WORKFLOW_TASKS: TableDefinition<(u64, u128), ()> = TableDefinition::new("workflow_tasks");
const ACTIVITY_TASKS: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("activity_tasks");
/// Schema 1 only: (visible at, run, scheduled event id). Migrated into `activity_queues`.
const ACTIVITY_QUEUE_V1: TableDefinition<(u64, u128, u64), ()> =
    TableDefinition::new("activity_queue");
/// ("namespace/queue", visible at ms, run, scheduled event id) -> ().
const ACTIVITY_QUEUE: TableDefinition<(&str, u64, u128, u64), ()> =
    TableDefinition::new("activity_queues");
/// (deadline ms, run, scheduled event id) -> kind: timeouts that fire without a worker.
const DEADLINES: TableDefinition<(u64, u128, u64), u8> = TableDefinition::new("deadlines");
const DEADLINE_ACTIVITY_CLOSE: u8 = 1;
const DEADLINE_ACTIVITY_START: u8 = 2;
const DEADLINE_NEXUS_CLOSE: u8 = 3;
/// A run's run timeout (event id 0).
const DEADLINE_RUN_TIMEOUT: u8 = 4;
/// The execution timeout, kept on each run of the execution (event id 0).
const DEADLINE_EXECUTION_TIMEOUT: u8 = 5;
/// (run, scheduled event id) -> [`NexusTask`].
const NEXUS_TASKS: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("nexus_tasks");
/// (visible at ms, run, scheduled event id) -> (): Nexus tasks (start or cancel) to deliver.
const NEXUS_QUEUE: TableDefinition<(u64, u128, u64), ()> = TableDefinition::new("nexus_queue");
/// (namespace, operation token) -> (run, scheduled event id) of started async operations.
const NEXUS_TOKENS: TableDefinition<(&str, &str), (u128, u64)> =
    TableDefinition::new("nexus_tokens");

/// The activity queue key of `queue` in `namespace`.
pub fn queue_key(namespace: &Namespace, queue: &str) -> String {
    format!("{namespace}/{queue}")
}

fn is_timeout(error_type: &str) -> bool {
    matches!(
        error_type,
        "StartToCloseTimeout"
            | "ScheduleToCloseTimeout"
            | "ScheduleToStartTimeout"
            | "HeartbeatTimeout"
    )
}
const TIMERS: TableDefinition<(u64, u128, u64), ()> = TableDefinition::new("timers");

/// Errors of the store. Each says what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is held by another weft process.
    #[error("database {0} is open in another weft process; stop it, or use that process's API")]
    InUse(PathBuf),
    /// The file is not a weft database or is damaged.
    #[error(
        "database {path} cannot be opened: {reason}. It is not a weft database or it is damaged; restore it from a backup (nothing was changed)"
    )]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What redb or the decoder reported.
        reason: String,
    },
    /// The file was written by a newer schema.
    #[error(
        "database {path} has schema version {found}; this weft reads up to {supported}. Upgrade weft to open it"
    )]
    NewerSchema {
        /// File.
        path: PathBuf,
        /// Version found.
        found: u64,
        /// Version supported.
        supported: u64,
    },
    /// A workflow with this id is already running.
    #[error("workflow {0} is already running (run {1}); wait for it to close or pick another id")]
    AlreadyRunning(WorkflowId, RunId),
    /// A namespace quota would be exceeded; nothing was written.
    #[error(
        "namespace {namespace} is at its quota of {limit} {what}; nothing was started (close workflows or raise the quota)"
    )]
    QuotaExceeded {
        /// Namespace.
        namespace: Namespace,
        /// What is counted.
        what: &'static str,
        /// The quota.
        limit: u64,
    },
    /// An event would take a run's history past its limit; nothing of the change was
    /// recorded. Returned to callers whose change is refused (a signal, a start); changes the
    /// run cannot do without (results, timers, task completions) terminate it instead.
    #[error("{0}")]
    HistoryLimit(HistoryOverflow),
    /// The database needs crash recovery or a schema upgrade, which only a writer does in
    /// place, and a read-only open could not make a recovered copy to read instead.
    #[error(
        "database {path} was not closed cleanly or is of an older schema, and weft could not read a recovered copy of it ({reason}); the file was not changed. Start the host on it to recover it in place, then try again"
    )]
    NeedsRecovery {
        /// File.
        path: PathBuf,
        /// Why the copy failed.
        reason: String,
    },
    /// There is no database at the path (missing or empty file); nothing was created.
    #[error(
        "no weft database at {path}: {reason}; nothing was created or changed (a host creates the database when it starts on a new path)"
    )]
    NoDatabase {
        /// File.
        path: PathBuf,
        /// "no such file" or "the file is empty".
        reason: &'static str,
    },
    /// The store was closed (its host shut down); open the file again to use it.
    #[error("database {0} is closed: its host was shut down; start a host on it again")]
    Closed(PathBuf),
    /// No workflow with this id.
    #[error("no workflow with id {0}")]
    UnknownWorkflow(WorkflowId),
    /// The workflow's current run is closed.
    #[error("workflow {0} is not running: its current run {1} is {2:?}")]
    NotRunning(WorkflowId, RunId, RunStatus),
    /// The id reuse policy of the last run forbids a new run.
    #[error(
        "workflow id {id} may not be started again: its last run {run} is {status:?} and was started with id reuse policy {policy:?}"
    )]
    IdReused {
        /// Workflow id.
        id: WorkflowId,
        /// Its last run.
        run: RunId,
        /// How that run ended.
        status: RunStatus,
        /// The policy it was started with.
        policy: IdReusePolicy,
    },
    /// Another change advanced the run while a task was computed; the task must reload.
    #[error("run {0} changed while its task ran (expected next event {1}, found {2})")]
    Conflict(RunId, u64, u64),
    /// A stored value could not be decoded.
    #[error("stored data of run {run}: {source}")]
    Encoding {
        /// Run whose data failed.
        run: RunId,
        /// Decoder error.
        source: EncodingError,
    },
    /// redb reported an error.
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// A reset was refused; nothing was changed.
    #[error("reset of workflow {0} refused: {1}; nothing was changed")]
    ResetRefused(WorkflowId, String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Status of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    /// Open: the workflow has not finished.
    Running,
    /// Closed with a result.
    Completed,
    /// Closed with a failure.
    Failed,
    /// Closed by the host without running workflow code (for example at the history limit).
    Terminated,
    /// Closed as canceled after a cancel request.
    Canceled,
    /// Closed by continue-as-new (or a retry of the execution): a newer run carries on.
    ContinuedAsNew,
    /// Closed by its run or execution timeout.
    TimedOut,
}

impl RunStatus {
    /// True once the run is closed.
    pub fn is_closed(self) -> bool {
        self != RunStatus::Running
    }
}

/// The pending Workflow Task of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingWorkflowTask {
    /// Attempt number (1 unless earlier attempts failed).
    pub attempt: u32,
    /// When it may run, ms since the epoch.
    pub due_ms: u64,
    /// The persisted WorkflowTaskScheduled event (attempt 1 only; retries are transient).
    pub scheduled_event_id: Option<EventId>,
    /// Message of the last failed attempt.
    pub last_failure: Option<String>,
}

/// Projection of a run's state, derived from its history in the same transactions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Namespace of the workflow.
    pub namespace: Namespace,
    /// Encoded size of the history, bytes.
    pub history_bytes: u64,
    /// Workflow id.
    pub workflow_id: WorkflowId,
    /// Registered workflow type.
    pub workflow_type: String,
    /// Status.
    pub status: RunStatus,
    /// Id the next event will get.
    pub next_event_id: u64,
    /// Start time, ms.
    pub start_ms: u64,
    /// Close time, ms.
    pub close_ms: Option<u64>,
    /// The Workflow Task waiting to run, if any.
    pub workflow_task: Option<PendingWorkflowTask>,
    /// The Nexus operation that started this run, told when it closes.
    pub nexus_callback: Option<NexusCallback>,
    /// For a child workflow: its parent, told when the child's execution closes.
    pub parent: Option<ParentLink>,
    /// Children this run started that had not closed when last heard of.
    pub children: Vec<ChildLink>,
    /// The run this one continues (continue-as-new or a retry of the execution).
    pub previous_run: Option<RunId>,
    /// The run that continues this one.
    pub next_run: Option<RunId>,
    /// Attempt of the execution (1 unless its retry policy started it again).
    pub attempt: u32,
    /// The execution's options.
    pub options: WorkflowOptions,
    /// When the execution times out, over all its runs.
    pub execution_deadline_ms: Option<u64>,
    /// A cancel request is recorded in this run.
    pub cancel_requested: bool,
    /// Whether the workflow id may be started again after this run closes.
    pub id_reuse_policy: IdReusePolicy,
}

/// A child's parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent's run.
    pub run: RunId,
    /// The parent's workflow id.
    pub workflow_id: WorkflowId,
    /// Its StartChildWorkflowExecutionInitiated event.
    pub initiated_event_id: EventId,
}

/// A child of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildLink {
    /// The child's current run.
    pub run: RunId,
    /// Child workflow id.
    pub workflow_id: WorkflowId,
    /// The parent's StartChildWorkflowExecutionInitiated event.
    pub initiated_event_id: EventId,
    /// What happens to the child when the parent's run closes.
    pub policy: ParentClosePolicy,
}

/// A run record as format versions 1 and 2 stored it (schema 2).
#[derive(Deserialize)]
struct RunRecordV2 {
    namespace: Namespace,
    history_bytes: u64,
    workflow_id: WorkflowId,
    workflow_type: String,
    status: RunStatus,
    next_event_id: u64,
    start_ms: u64,
    close_ms: Option<u64>,
    workflow_task: Option<PendingWorkflowTask>,
    nexus_callback: Option<NexusCallback>,
}

impl From<RunRecordV2> for RunRecord {
    fn from(o: RunRecordV2) -> RunRecord {
        RunRecord {
            namespace: o.namespace,
            history_bytes: o.history_bytes,
            workflow_id: o.workflow_id,
            workflow_type: o.workflow_type,
            status: o.status,
            next_event_id: o.next_event_id,
            start_ms: o.start_ms,
            close_ms: o.close_ms,
            workflow_task: o.workflow_task,
            nexus_callback: o.nexus_callback,
            parent: None,
            children: Vec::new(),
            previous_run: None,
            next_run: None,
            attempt: 1,
            options: WorkflowOptions::default(),
            execution_deadline_ms: None,
            cancel_requested: false,
            id_reuse_policy: IdReusePolicy::default(),
        }
    }
}

/// Decodes a run record of any format version.
fn decode_run(bytes: &[u8]) -> Result<RunRecord, EncodingError> {
    match bytes.first() {
        Some(1 | 2) => history::decode::<RunRecordV2>(bytes).map(RunRecord::from),
        _ => history::decode(bytes),
    }
}

/// What a new execution is started with.
#[derive(Clone, Debug)]
pub struct StartRequest {
    /// Namespace.
    pub namespace: Option<Namespace>,
    /// Workflow id.
    pub workflow_id: WorkflowId,
    /// Registered type.
    pub workflow_type: String,
    /// Input of `run`.
    pub input: Payload,
    /// Seed of the first run's random generator.
    pub random_seed: u64,
    /// Timeouts and retry policy.
    pub options: WorkflowOptions,
    /// Whether the id may be reused after a close.
    pub id_reuse_policy: IdReusePolicy,
    /// Signal-with-start: a signal recorded right after WorkflowExecutionStarted, or sent to
    /// the running workflow when the id is running.
    pub signal: Option<(String, Payload)>,
}

/// A run record as schema 1 stored it (no namespace, no size).
#[derive(Deserialize)]
struct RunRecordV1 {
    workflow_id: WorkflowId,
    workflow_type: String,
    status: RunStatus,
    next_event_id: u64,
    start_ms: u64,
    close_ms: Option<u64>,
    workflow_task: Option<PendingWorkflowTask>,
}

/// What a namespace holds, as counted in `ns_usage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NamespaceUsage {
    /// Runs not yet closed.
    pub open_workflows: u64,
    /// Encoded bytes of all histories.
    pub stored_bytes: u64,
}

/// Quotas checked when a workflow starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartQuota {
    /// Most open runs in the namespace.
    pub max_open_workflows: u64,
    /// Most stored history bytes in the namespace.
    pub max_stored_bytes: u64,
}

impl StartQuota {
    /// No limits.
    pub const UNLIMITED: StartQuota = StartQuota {
        max_open_workflows: u64::MAX,
        max_stored_bytes: u64::MAX,
    };

    /// The lower of each quota of `self` and `other`.
    pub fn tighter(self, other: StartQuota) -> StartQuota {
        StartQuota {
            max_open_workflows: self.max_open_workflows.min(other.max_open_workflows),
            max_stored_bytes: self.max_stored_bytes.min(other.max_stored_bytes),
        }
    }
}

/// What the store enforces for the runs of one namespace, inside the write transaction that
/// would pass it: the history limits of each run, and the quotas every path that opens a run
/// (a start, a child, a workflow-backed Nexus operation) is held to. Continue-as-new and
/// retries close one run as they open the next, so they are not refused by the open-workflow
/// quota; nor by the stored-bytes quota, which stops new work, not running executions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespaceLimits {
    /// Most events in one run's history.
    pub max_history_events: u64,
    /// Largest encoded history of one run, bytes.
    pub max_history_bytes: u64,
    /// Quotas on opening runs.
    pub start: StartQuota,
}

impl NamespaceLimits {
    /// The host's history limits and no start quotas.
    pub fn host(limits: &Limits) -> NamespaceLimits {
        NamespaceLimits {
            max_history_events: limits.max_history_events,
            max_history_bytes: limits.max_history_bytes,
            start: StartQuota::UNLIMITED,
        }
    }
}

/// The limits of every namespace, given to the store when the host starts.
#[derive(Clone, Debug)]
struct StoreLimits {
    /// For namespaces not listed (not configured on this host).
    default: NamespaceLimits,
    namespaces: HashMap<Namespace, NamespaceLimits>,
}

impl StoreLimits {
    fn of(&self, namespace: &Namespace) -> NamespaceLimits {
        self.namespaces
            .get(namespace)
            .copied()
            .unwrap_or(self.default)
    }
}

/// How many runs one change may terminate at their history limits before giving up; each is
/// the parent, Nexus caller or child of the one before, so this bounds a chain's length.
const MAX_LIMIT_TERMINATIONS: u32 = 16;

/// An event that would take a run's history past one of its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryOverflow {
    /// The run (for `first_events`, the run that was not created).
    pub run: RunId,
    /// Its workflow id.
    pub workflow_id: WorkflowId,
    /// What was to be recorded: an event name, or a description of several events.
    pub recording: &'static str,
    /// `"events"` or `"bytes"`.
    pub unit: &'static str,
    /// The limit passed.
    pub limit: u64,
    /// What the history would have reached (at least).
    pub reached: u64,
    /// The first events of a new run (its input is too large for the limit).
    pub first_events: bool,
}

impl HistoryOverflow {
    /// The reason recorded when the run is terminated instead.
    pub fn termination_reason(&self) -> String {
        format!(
            "the history reached its limit of {} {unit}: recording {} would have brought it to {} {unit}, so it was not recorded; a long-running workflow must continue as a new run (continue-as-new) before its history reaches the limit",
            self.limit,
            self.recording,
            self.reached,
            unit = self.unit
        )
    }
}

impl std::fmt::Display for HistoryOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first_events {
            return write!(
                f,
                "a new run of workflow {} would start with {} {unit} of history, past the namespace's limit of {} {unit} per run; nothing was started (make its input smaller)",
                self.workflow_id,
                self.reached,
                self.limit,
                unit = self.unit
            );
        }
        write!(
            f,
            "workflow {} (run {}): recording {} would bring its history to {} {unit}, past its limit of {} {unit}; nothing was recorded. A long-running workflow must continue as a new run (continue-as-new) before its history reaches the limit",
            self.workflow_id,
            self.run,
            self.recording,
            self.reached,
            self.limit,
            unit = self.unit
        )
    }
}

/// The overflow, if a run of `namespace` with `events` events and `bytes` bytes of history
/// passes `lim`.
fn overflow_of(
    lim: NamespaceLimits,
    run: RunId,
    workflow_id: &WorkflowId,
    recording: &'static str,
    events: u64,
    bytes: u64,
) -> Option<HistoryOverflow> {
    let (unit, limit, reached) = if events > lim.max_history_events {
        ("events", lim.max_history_events, events)
    } else if bytes > lim.max_history_bytes {
        ("bytes", lim.max_history_bytes, bytes)
    } else {
        return None;
    };
    Some(HistoryOverflow {
        run,
        workflow_id: workflow_id.clone(),
        recording,
        unit,
        limit,
        reached,
        first_events: false,
    })
}

/// An activity waiting in the queue or running.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityTask {
    /// Workflow id (for the idempotency key and logs).
    pub workflow_id: WorkflowId,
    /// Registered activity type.
    pub activity_type: String,
    /// Input.
    pub input: Payload,
    /// Attempt that runs next, or is running (from 1).
    pub attempt: u32,
    /// Lease length of one attempt.
    pub start_to_close_timeout_ms: u64,
    /// Retry policy.
    pub retry_policy: RetryPolicy,
    /// Key of its `activity_queue` entry: when the next attempt may start, or when the running
    /// attempt's lease expires.
    pub visible_at_ms: u64,
    /// A worker holds the task until `visible_at_ms` (the lease expiry).
    pub leased: bool,
    /// Failure of the previous attempt.
    pub last_failure: Option<Failure>,
    /// Task queue.
    pub task_queue: String,
    /// When the activity was scheduled.
    pub scheduled_ms: u64,
    /// Schedule-to-close timeout.
    pub schedule_to_close_timeout_ms: Option<u64>,
    /// Schedule-to-start timeout of each attempt.
    pub schedule_to_start_timeout_ms: Option<u64>,
    /// Heartbeat timeout.
    pub heartbeat_timeout_ms: Option<u64>,
    /// When the running attempt was handed out.
    pub attempt_started_ms: u64,
    /// Details of the last heartbeat, of this or an earlier attempt.
    pub heartbeat_details: Option<Payload>,
    /// Time of the last heartbeat of the running attempt.
    pub last_heartbeat_ms: Option<u64>,
    /// The workflow asked to cancel the activity while an attempt ran.
    pub cancel_requested: bool,
}

impl ActivityTask {
    /// When the running attempt's lease expires: its start-to-close deadline, or earlier when
    /// a heartbeat is due.
    fn lease_expiry(&self) -> (u64, &'static str) {
        let stc = self
            .attempt_started_ms
            .saturating_add(self.start_to_close_timeout_ms);
        match self.heartbeat_timeout_ms {
            Some(hb) => {
                let due = self
                    .last_heartbeat_ms
                    .unwrap_or(self.attempt_started_ms)
                    .saturating_add(hb);
                if due < stc {
                    (due, "HeartbeatTimeout")
                } else {
                    (stc, "StartToCloseTimeout")
                }
            }
            None => (stc, "StartToCloseTimeout"),
        }
    }

    /// The schedule-to-close deadline, if any.
    fn close_deadline(&self) -> Option<u64> {
        self.schedule_to_close_timeout_ms
            .map(|t| self.scheduled_ms.saturating_add(t))
    }
}

/// An activity task as schema 1 stored it.
#[derive(Deserialize)]
struct ActivityTaskV1 {
    workflow_id: WorkflowId,
    activity_type: String,
    input: Payload,
    attempt: u32,
    start_to_close_timeout_ms: u64,
    retry_policy: RetryPolicy,
    visible_at_ms: u64,
    leased: bool,
    last_failure: Option<Failure>,
}

/// An activity task handed to a worker.
#[derive(Clone, Debug)]
pub struct LeasedActivity {
    /// Run.
    pub run: RunId,
    /// Namespace of the run.
    pub namespace: Namespace,
    /// ActivityTaskScheduled event id.
    pub scheduled_event_id: EventId,
    /// The task as leased.
    pub task: ActivityTask,
}

/// What a heartbeat learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatAck {
    /// Keep going.
    Continue,
    /// The workflow asked to cancel the activity.
    CancelRequested,
    /// This attempt is no longer current (it timed out, or the activity ended): stop.
    Gone,
}

/// What a completed Workflow Task hands to [`Store::complete_workflow_task`].
#[derive(Clone, Debug)]
pub struct TaskCompletion {
    /// Run.
    pub run: RunId,
    /// `next_event_id` of the history the task replayed.
    pub expected_next_event_id: u64,
    /// Attempt of the task.
    pub attempt: u32,
    /// When the task started (workflow time of the task).
    pub started_ms: u64,
    /// New commands.
    pub commands: Vec<Command>,
}

/// What a committed task or event changed, for the host's wake-ups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// A run closed.
    pub closed: bool,
    /// Activity tasks were queued.
    pub activities: bool,
    /// Timers were started.
    pub timers: bool,
    /// A Workflow Task was scheduled.
    pub workflow_task: bool,
    /// Running activity attempts whose cancellation was requested.
    pub cancel_activities: Vec<(RunId, EventId)>,
    /// Nexus tasks were queued.
    pub nexus: bool,
    /// The run's `next_event_id` after the commit (Workflow Task completions).
    pub next_event_id: u64,
    /// Workflow Task completions: the task would have taken the history past its limit, so
    /// nothing of it was recorded and the run was terminated for this reason.
    pub terminated: Option<String>,
}

/// The writer's redb handle. [`Store::close`] closes it even while others still share the
/// `Store` (a host's tasks, or a [`crate::Client`] captured by a handler the host owns), so a
/// shut-down host leaves a file that needs no recovery. Transactions begun before the close
/// finish normally (redb defers the close past a live write transaction); later ones fail with
/// [`StoreError::Closed`].
struct Db {
    handle: std::sync::Mutex<Option<std::sync::Arc<redb::Database>>>,
    path: PathBuf,
}

impl Db {
    fn new(db: redb::Database, path: &Path) -> Db {
        Db {
            handle: std::sync::Mutex::new(Some(std::sync::Arc::new(db))),
            path: path.to_path_buf(),
        }
    }

    /// The open database; the lock is held only to clone the handle, never across a
    /// transaction.
    fn get(&self) -> Result<std::sync::Arc<redb::Database>, StoreError> {
        self.handle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Closed(self.path.clone()))
    }

    fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        Ok(self.get()?.begin_write()?)
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.get()?.begin_read()?)
    }

    /// Closes the database: now if nothing else uses the handle, otherwise as soon as the
    /// last transaction begun before the close ends. Idempotent.
    fn close(&self) {
        let taken = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take();
        // A thread inside `begin_*` holds a clone for that call only; it closes the database
        // when it drops it.
        if let Some(Ok(db)) = taken.map(std::sync::Arc::try_unwrap) {
            match db.close() {
                Ok(()) => tracing::info!(db = %self.path.display(), "database closed"),
                Err(redb::DatabaseError::TransactionInProgress) => tracing::info!(
                    db = %self.path.display(),
                    "database closes when its last write transaction ends"
                ),
                Err(e) => tracing::warn!(db = %self.path.display(), "closing the database: {e}"),
            }
        }
    }
}

/// Handle to an open weft database file.
pub struct Store {
    db: Db,
    path: PathBuf,
    limits: StoreLimits,
    gate: crate::fair::WriteGate,
}

/// [`StoreError::NoDatabase`] for a missing or empty `path`.
fn no_database(path: &Path) -> StoreError {
    StoreError::NoDatabase {
        path: path.to_path_buf(),
        reason: if path.exists() {
            "the file is empty"
        } else {
            "no such file"
        },
    }
}

fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
        other => StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

fn builder() -> redb::Builder {
    let mut b = redb::Builder::new();
    // One process writes; `weft describe`/`history` may read concurrently.
    b.set_concurrency_mode(redb::ConcurrencyMode::SingleWriter);
    b
}

fn check_schema(path: &Path, found: Option<u64>) -> Result<(), StoreError> {
    match found {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

impl Store {
    /// Opens `path`, creating an empty database if the file does not exist.
    ///
    /// Fails with [`StoreError::InUse`] when another process has it open,
    /// [`StoreError::NewerSchema`] for a database of a newer release and
    /// [`StoreError::Corrupt`] for a file that is not a readable redb database. Activity
    /// leases held by an earlier process are released: it is gone, since only one process may
    /// open the file for writing.
    pub fn open(path: impl AsRef<Path>, now_ms: u64) -> Result<Store, StoreError> {
        Store::open_as(path.as_ref(), now_ms, true)
    }

    /// [`Store::open`] for a database that must already exist: a missing or empty file is
    /// refused with [`StoreError::NoDatabase`] and left as it is (nothing is created). For
    /// commands that change an existing database, such as the `weft` command line's.
    pub fn open_existing(path: impl AsRef<Path>, now_ms: u64) -> Result<Store, StoreError> {
        Store::open_as(path.as_ref(), now_ms, false)
    }

    fn open_as(path: &Path, now_ms: u64, create: bool) -> Result<Store, StoreError> {
        let existed = path.exists()
            && std::fs::metadata(path)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
        if !existed && !create {
            return Err(no_database(path));
        }
        // Never `create` an existing file: a file emptied meanwhile is refused, not initialized.
        let db = if existed {
            builder().open(path)
        } else {
            builder().create(path)
        }
        .map_err(|e| open_error(path, e))?;
        let store = Store {
            db: Db::new(db, path),
            path: path.to_path_buf(),
            limits: StoreLimits {
                default: NamespaceLimits::host(&Limits::default()),
                namespaces: HashMap::new(),
            },
            gate: Default::default(),
        };
        let tx = store.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let found = meta.get("schema_version")?.map(|v| v.value());
            check_schema(path, found)?;
            match found {
                None => {
                    if existed && tx.list_tables()?.count() > 1 {
                        return Err(StoreError::Corrupt {
                            path: path.to_path_buf(),
                            reason: "it has tables but no weft schema version".into(),
                        });
                    }
                }
                Some(1) => migrate_v1(&tx)?,
                Some(_) => {}
            }
            meta.insert("schema_version", SCHEMA_VERSION)?;
            tx.open_table(RUNS)?;
            tx.open_table(ACTIVITY_TASKS)?;
            tx.open_table(ACTIVITY_QUEUE)?;
            tx.open_table(DEADLINES)?;
            tx.open_table(NEXUS_TASKS)?;
            tx.open_table(NEXUS_QUEUE)?;
            tx.open_table(NEXUS_TOKENS)?;
            tx.open_table(HISTORY)?;
            tx.open_table(WORKFLOWS)?;
            tx.open_table(NS_USAGE)?;
            tx.open_table(WORKFLOW_TASKS)?;
            tx.open_table(TIMERS)?;
            release_leases(&tx, &store.limits, now_ms)?;
        }
        tx.commit()?;
        Ok(store)
    }

    /// Sets the limits the store enforces: `namespaces` for the namespaces listed, `default`
    /// for any other. Until this is called, every namespace has the default [`Limits`]'
    /// history limits and no start quotas.
    pub fn with_limits(
        mut self,
        default: NamespaceLimits,
        namespaces: HashMap<Namespace, NamespaceLimits>,
    ) -> Store {
        self.limits = StoreLimits {
            default,
            namespaces,
        };
        self
    }

    /// The limits the store enforces for `namespace`.
    pub fn limits(&self, namespace: &Namespace) -> NamespaceLimits {
        self.limits.of(namespace)
    }

    /// Runs `op`, one write transaction. When it fails because an event would take a run's
    /// history past its limit, nothing of it was committed: that run is terminated instead
    /// (as Temporal terminates a run at its history limit) and `op` runs again, finding the
    /// run closed. The first events of a run not yet created cannot be: that error is
    /// returned.
    fn or_terminate<T>(
        &self,
        now_ms: u64,
        depth: u32,
        mut op: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut terminated = 0;
        loop {
            match op() {
                Err(StoreError::HistoryLimit(o))
                    if !o.first_events
                        && terminated < MAX_LIMIT_TERMINATIONS
                        && depth < MAX_LIMIT_TERMINATIONS =>
                {
                    self.terminate_inner(o.run, &o.termination_reason(), now_ms, false, depth + 1)?;
                    terminated += 1;
                }
                r => return r,
            }
        }
    }

    /// Waits for `namespace`'s turn at the writer (round-robin between namespaces, see
    /// [`crate::fair::WriteGate`]); hold the turn across the write calls made for that
    /// namespace. Blocking: call it on a thread that may block.
    pub fn lane(&self, namespace: &Namespace) -> crate::fair::Turn<'_> {
        self.gate.enter(namespace)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the database file cleanly, so the next open needs no recovery, even while
    /// other holders still share this `Store`. A write transaction under way commits first;
    /// every later call fails with [`StoreError::Closed`]. Dropping the last holder does the
    /// same; closing twice does nothing.
    pub fn close(&self) {
        self.db.close();
    }

    /// Creates a run of `workflow_type` for `id` in `namespace` with `input` and schedules its
    /// first Workflow Task: [`Store::start_workflow_with`] with default options.
    #[allow(clippy::too_many_arguments)]
    pub fn start_workflow(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
        workflow_type: &str,
        input: Payload,
        random_seed: u64,
        now_ms: u64,
        quota: StartQuota,
        callback: Option<NexusCallback>,
    ) -> Result<RunId, StoreError> {
        let req = StartRequest {
            namespace: Some(namespace.clone()),
            workflow_id: id.clone(),
            workflow_type: workflow_type.to_string(),
            input,
            random_seed,
            options: WorkflowOptions::default(),
            id_reuse_policy: IdReusePolicy::default(),
            signal: None,
        };
        self.start_workflow_with(&req, now_ms, quota, callback)
            .map(|(run, _)| run)
    }

    /// Starts an execution as `req` says. Writes WorkflowExecutionStarted (then
    /// WorkflowExecutionSignaled for signal-with-start) and WorkflowTaskScheduled. Returns the
    /// run and whether it was created (false: signal-with-start signaled the running one).
    ///
    /// A running workflow with the same id fails with [`StoreError::AlreadyRunning`], unless
    /// `callback` is given and equals the running one's (a repeated start by the same Nexus
    /// operation: the existing run is returned) or `req.signal` is set (the running one is
    /// signaled). A closed one may start again as its id reuse policy allows. Quotas (the
    /// tighter of `quota` and the namespace's, see [`Store::with_limits`]) are checked in the
    /// same transaction; nothing is written when one is reached. A signal that would take the
    /// running run's history past its limit is refused with [`StoreError::HistoryLimit`].
    pub fn start_workflow_with(
        &self,
        req: &StartRequest,
        now_ms: u64,
        quota: StartQuota,
        callback: Option<NexusCallback>,
    ) -> Result<(RunId, bool), StoreError> {
        let namespace = req
            .namespace
            .clone()
            .unwrap_or_else(Namespace::default_namespace);
        let id = &req.workflow_id;
        let tx = self.db.begin_write()?;
        let run;
        {
            let mut w = W::open(&tx, &self.limits)?;
            let key = (namespace.as_str(), id.0.as_str());
            let existing = w.workflows.get(key)?.map(|v| RunId(v.value()));
            if let Some(existing) = existing {
                let mut rec = w.get_run(existing)?;
                if callback.is_some() && rec.nexus_callback == callback {
                    return Ok((existing, false));
                }
                if !rec.status.is_closed() {
                    let Some((name, input)) = &req.signal else {
                        return Err(StoreError::AlreadyRunning(id.clone(), existing));
                    };
                    w.signal(existing, &mut rec, name, input.clone(), now_ms)?;
                    w.put_run(existing, &rec)?;
                    drop(w);
                    tx.commit()?;
                    return Ok((existing, false));
                }
                let refused = match rec.id_reuse_policy {
                    IdReusePolicy::AllowDuplicate => false,
                    IdReusePolicy::AllowDuplicateFailedOnly => rec.status == RunStatus::Completed,
                    IdReusePolicy::RejectDuplicate => true,
                };
                if refused {
                    return Err(StoreError::IdReused {
                        id: id.clone(),
                        run: existing,
                        status: rec.status,
                        policy: rec.id_reuse_policy,
                    });
                }
            }
            if let Some(refused) = w.quota_refusal(&namespace, quota)? {
                return Err(refused);
            }
            let execution_deadline_ms = req
                .options
                .execution_timeout_ms
                .map(|t| now_ms.saturating_add(t));
            run = w.create_run(NewRun {
                namespace,
                workflow_id: id.clone(),
                workflow_type: req.workflow_type.clone(),
                input: req.input.clone(),
                random_seed: req.random_seed,
                options: req.options.clone(),
                id_reuse_policy: req.id_reuse_policy,
                attempt: 1,
                previous_run: None,
                parent: None,
                nexus_callback: callback,
                execution_deadline_ms,
                signal: req.signal.clone(),
                first_task_due_ms: now_ms,
                now_ms,
            })?;
        }
        tx.commit()?;
        Ok((run, true))
    }

    /// Sends signal `name` to the open run `run`: WorkflowExecutionSignaled and a Workflow
    /// Task. Fails with [`StoreError::NotRunning`] when the run is closed, and with
    /// [`StoreError::HistoryLimit`] (nothing recorded, the run goes on) when the signal would
    /// take its history past its limit: the sender is refused, as Temporal refuses signals
    /// past a workflow's signal limit.
    pub fn signal(
        &self,
        run: RunId,
        name: &str,
        input: Payload,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.change_open_run(run, |w, rec| w.signal(run, rec, name, input, now_ms))
    }

    /// Records a cancel request of the open run `run` (WorkflowExecutionCancelRequested and a
    /// Workflow Task); a repeated request changes nothing. A request that would take the
    /// history past its limit terminates the run instead, which ends it as the caller asked.
    pub fn request_cancel(&self, run: RunId, reason: &str, now_ms: u64) -> Result<(), StoreError> {
        match self.change_open_run(run, |w, rec| w.request_cancel(run, rec, reason, now_ms)) {
            Err(StoreError::HistoryLimit(o)) if o.run == run => {
                self.terminate_inner(run, &o.termination_reason(), now_ms, false, 1)?;
                Ok(())
            }
            r => r,
        }
    }

    fn change_open_run(
        &self,
        run: RunId,
        f: impl FnOnce(&mut W<'_>, &mut RunRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut w = W::open(&tx, &self.limits)?;
            let mut rec = w.get_run(run)?;
            if rec.status.is_closed() {
                return Err(StoreError::NotRunning(
                    rec.workflow_id.clone(),
                    run,
                    rec.status,
                ));
            }
            f(&mut w, &mut rec)?;
            w.put_run(run, &rec)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// What namespace `namespace` holds.
    pub fn usage(&self, namespace: &Namespace) -> Result<NamespaceUsage, StoreError> {
        let tx = self.db.begin_read()?;
        get_usage(&tx.open_table(NS_USAGE)?, namespace)
    }

    /// Closes `run` with WorkflowExecutionTerminated without running workflow code: the host
    /// ends it (for example, its history reached the limit). Pending activities, timers and
    /// Nexus operations are dropped. Returns false if the run was already closed. A parent or
    /// Nexus caller whose history cannot take the news is terminated at its limit first.
    pub fn terminate(&self, run: RunId, reason: &str, now_ms: u64) -> Result<bool, StoreError> {
        self.terminate_as(run, reason, now_ms, false)
    }

    fn terminate_as(
        &self,
        run: RunId,
        reason: &str,
        now_ms: u64,
        canceled: bool,
    ) -> Result<bool, StoreError> {
        self.terminate_inner(run, reason, now_ms, canceled, 0)
    }

    /// [`Store::terminate_as`] at `depth` runs terminated at their limits up the stack.
    fn terminate_inner(
        &self,
        run: RunId,
        reason: &str,
        now_ms: u64,
        canceled: bool,
        depth: u32,
    ) -> Result<bool, StoreError> {
        self.or_terminate(now_ms, depth, || {
            self.terminate_once(run, reason, now_ms, canceled)
        })
    }

    fn terminate_once(
        &self,
        run: RunId,
        reason: &str,
        now_ms: u64,
        canceled: bool,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut w = W::open(&tx, &self.limits)?;
            let mut rec = w.get_run(run)?;
            if rec.status.is_closed() {
                return Ok(false);
            }
            if let Some(p) = rec.workflow_task.take() {
                w.wft.remove((p.due_ms, run.0))?;
            }
            w.append(
                run,
                &mut rec,
                now_ms,
                EventKind::WorkflowExecutionTerminated {
                    reason: reason.to_string(),
                },
            )?;
            let outcome = if canceled {
                CloseOutcome::Canceled
            } else {
                CloseOutcome::Terminated(reason.to_string())
            };
            w.close(run, &mut rec, RunStatus::Terminated, outcome, now_ms, false)?;
            w.put_run(run, &rec)?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Runs whose Workflow Task is due at `now_ms`, oldest first, at most `limit`, with their
    /// namespaces. Runs for which `skip` returns true are passed over without counting, so that
    /// one namespace's backlog does not hide another's due tasks; at most `16 * limit` due
    /// entries are read.
    pub fn due_workflow_tasks(
        &self,
        now_ms: u64,
        limit: usize,
        mut skip: impl FnMut(RunId, &Namespace) -> bool,
    ) -> Result<Vec<(RunId, Namespace)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(WORKFLOW_TASKS)?;
        let runs = tx.open_table(RUNS)?;
        let mut out = Vec::new();
        let scan = limit.saturating_mul(16);
        for entry in t.range((0, 0)..=(now_ms, u128::MAX))?.take(scan) {
            let (k, _) = entry?;
            let run = RunId(k.value().1);
            let namespace = get_run(&runs, run)?.namespace;
            if skip(run, &namespace) {
                continue;
            }
            out.push((run, namespace));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Earliest due time of a Workflow Task, of an activity task in `queue_key` (see
    /// [`queue_key`]), of a timer or deadline, and of a Nexus task, in that order.
    pub fn next_due(&self, queue_key: &str) -> Result<[Option<u64>; 4], StoreError> {
        let tx = self.db.begin_read()?;
        let a = tx
            .open_table(WORKFLOW_TASKS)?
            .first()?
            .map(|(k, _)| k.value().0);
        let b = tx
            .open_table(ACTIVITY_QUEUE)?
            .range((queue_key, 0, 0, 0)..=(queue_key, u64::MAX, u128::MAX, u64::MAX))?
            .next()
            .transpose()?
            .map(|(k, _)| k.value().1);
        let t = tx.open_table(TIMERS)?.first()?.map(|(k, _)| k.value().0);
        let d = tx.open_table(DEADLINES)?.first()?.map(|(k, _)| k.value().0);
        let c = match (t, d) {
            (Some(t), Some(d)) => Some(t.min(d)),
            (t, d) => t.or(d),
        };
        let n = tx
            .open_table(NEXUS_QUEUE)?
            .first()?
            .map(|(k, _)| k.value().0);
        Ok([a, b, c, n])
    }

    /// Due time of the first Workflow Task due after `after_ms`, if any.
    pub fn next_workflow_task_after(&self, after_ms: u64) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(WORKFLOW_TASKS)?;
        let mut r = t.range((after_ms.saturating_add(1), 0)..)?;
        Ok(r.next().transpose()?.map(|(k, _)| k.value().0))
    }

    /// The run record of `run`.
    pub fn run(&self, run: RunId) -> Result<RunRecord, StoreError> {
        let tx = self.db.begin_read()?;
        let runs = tx.open_table(RUNS)?;
        get_run(&runs, run)
    }

    /// The current (latest) run of workflow `id` in `namespace`.
    pub fn current_run(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<(RunId, RunRecord), StoreError> {
        let tx = self.db.begin_read()?;
        let workflows = tx.open_table(WORKFLOWS)?;
        let run = workflows
            .get((namespace.as_str(), id.0.as_str()))?
            .map(|v| RunId(v.value()))
            .ok_or_else(|| StoreError::UnknownWorkflow(id.clone()))?;
        let runs = tx.open_table(RUNS)?;
        Ok((run, get_run(&runs, run)?))
    }

    /// The record and the full history of `run`, read in one snapshot.
    pub fn load_run(&self, run: RunId) -> Result<(RunRecord, Vec<Event>), StoreError> {
        let tx = self.db.begin_read()?;
        let runs = tx.open_table(RUNS)?;
        let rec = get_run(&runs, run)?;
        let history = tx.open_table(HISTORY)?;
        let mut events = Vec::with_capacity(rec.next_event_id as usize);
        for entry in history.range((run.0, 0)..=(run.0, u64::MAX))? {
            let (_, v) = entry?;
            events.push(
                history::decode_event(v.value())
                    .map_err(|source| StoreError::Encoding { run, source })?,
            );
        }
        Ok((rec, events))
    }

    /// Commits a completed Workflow Task: WorkflowTaskScheduled (retried attempts only),
    /// WorkflowTaskStarted, WorkflowTaskCompleted and one event per command; queues the new
    /// activity tasks, timers and Nexus tasks; handles cancel requests; closes the run on a
    /// complete or fail command.
    ///
    /// Fails with [`StoreError::Conflict`] when the history grew since the task loaded it; the
    /// caller must drop its result and run the task again.
    ///
    /// A task whose events would take the run's history past its limit (events or bytes of
    /// its namespace) is refused as a whole: nothing of it is written, and the run is
    /// terminated instead (WorkflowExecutionTerminated, as Temporal does at the history
    /// limit); the returned [`Effects::terminated`] holds the reason. Its payloads alone are
    /// checked before anything is written, so a task far past the limit writes no page. A
    /// parent, child or Nexus caller whose history cannot take what the task tells it is
    /// terminated at its limit, and the task is committed without it.
    pub fn complete_workflow_task(
        &self,
        c: TaskCompletion,
        now_ms: u64,
    ) -> Result<Effects, StoreError> {
        let mut terminated = 0;
        loop {
            match self.commit_task(&c, now_ms) {
                Err(StoreError::HistoryLimit(o)) if o.run == c.run => {
                    let payload: u64 = c.commands.iter().map(Command::payload_bytes).sum();
                    let reason = format!(
                        "the history reached its limit of {limit} {unit}: this Workflow Task ({n} commands carrying {payload} bytes of payloads) would have brought it to {reached} {unit} or more, so nothing of it was recorded; a long-running workflow must continue as a new run (continue-as-new) before its history reaches the limit",
                        limit = o.limit,
                        unit = o.unit,
                        n = c.commands.len(),
                        reached = o.reached,
                    );
                    if !self.terminate_inner(c.run, &reason, now_ms, false, 1)? {
                        let found = self.run(c.run)?.next_event_id;
                        return Err(StoreError::Conflict(c.run, c.expected_next_event_id, found));
                    }
                    return Ok(Effects {
                        closed: true,
                        terminated: Some(reason),
                        ..Effects::default()
                    });
                }
                Err(StoreError::HistoryLimit(o))
                    if !o.first_events && terminated < MAX_LIMIT_TERMINATIONS =>
                {
                    self.terminate_inner(o.run, &o.termination_reason(), now_ms, false, 1)?;
                    terminated += 1;
                }
                r => return r,
            }
        }
    }

    /// One attempt of [`Store::complete_workflow_task`].
    fn commit_task(&self, c: &TaskCompletion, now_ms: u64) -> Result<Effects, StoreError> {
        let tx = self.db.begin_write()?;
        let mut fx = Effects::default();
        {
            let mut w = W::open(&tx, &self.limits)?;
            let mut rec = w.get_run(c.run)?;
            if rec.next_event_id != c.expected_next_event_id {
                return Err(StoreError::Conflict(
                    c.run,
                    c.expected_next_event_id,
                    rec.next_event_id,
                ));
            }
            let run = c.run;
            // What the task adds at least: its task events, one event per command and the
            // commands' payloads. Checked before anything is written.
            let recorded = rec
                .workflow_task
                .as_ref()
                .is_some_and(|p| p.scheduled_event_id.is_some());
            let floor_events = 3 - u64::from(recorded) + c.commands.len() as u64;
            let floor_bytes: u64 = c.commands.iter().map(Command::payload_bytes).sum();
            w.check_growth(
                run,
                &rec,
                "this Workflow Task's events",
                floor_events,
                floor_bytes,
            )?;
            let pending = rec.workflow_task.take();
            if let Some(p) = &pending {
                w.wft.remove((p.due_ms, run.0))?;
            }
            let scheduled = match pending.and_then(|p| p.scheduled_event_id) {
                Some(id) => id,
                None => w.append(
                    run,
                    &mut rec,
                    c.started_ms,
                    EventKind::WorkflowTaskScheduled { attempt: c.attempt },
                )?,
            };
            let started = w.append(
                run,
                &mut rec,
                c.started_ms,
                EventKind::WorkflowTaskStarted {
                    scheduled_event_id: scheduled,
                },
            )?;
            w.append(
                run,
                &mut rec,
                now_ms,
                EventKind::WorkflowTaskCompleted {
                    started_event_id: started,
                },
            )?;
            // Event id of each command of this task, for commands that refer to earlier ones.
            let mut assigned: Vec<EventId> = Vec::with_capacity(c.commands.len());
            let mut resolved_now = false;
            let resolve = |t: Target, assigned: &[EventId]| match t {
                Target::Recorded(id) => id,
                Target::New(i) => assigned[i],
            };
            for cmd in c.commands.iter().cloned() {
                let id = match cmd {
                    Command::ScheduleActivity {
                        activity_type,
                        input,
                        start_to_close_timeout_ms,
                        retry_policy,
                        schedule_to_close_timeout_ms,
                        schedule_to_start_timeout_ms,
                        heartbeat_timeout_ms,
                        task_queue,
                    } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::ActivityTaskScheduled {
                                activity_type: activity_type.clone(),
                                input: input.clone(),
                                start_to_close_timeout_ms,
                                retry_policy: retry_policy.clone(),
                                schedule_to_close_timeout_ms,
                                schedule_to_start_timeout_ms,
                                heartbeat_timeout_ms,
                                task_queue: task_queue.clone(),
                            },
                        )?;
                        let task = ActivityTask {
                            workflow_id: rec.workflow_id.clone(),
                            activity_type,
                            input,
                            attempt: 1,
                            start_to_close_timeout_ms,
                            retry_policy,
                            visible_at_ms: now_ms,
                            leased: false,
                            last_failure: None,
                            task_queue,
                            scheduled_ms: now_ms,
                            schedule_to_close_timeout_ms,
                            schedule_to_start_timeout_ms,
                            heartbeat_timeout_ms,
                            attempt_started_ms: 0,
                            heartbeat_details: None,
                            last_heartbeat_ms: None,
                            cancel_requested: false,
                        };
                        let qk = queue_key(&rec.namespace, &task.task_queue);
                        w.queue.insert((qk.as_str(), now_ms, run.0, id.0), ())?;
                        if let Some(d) = task.close_deadline() {
                            w.deadlines
                                .insert((d, run.0, id.0), DEADLINE_ACTIVITY_CLOSE)?;
                            fx.timers = true;
                        }
                        if let Some(t) = schedule_to_start_timeout_ms {
                            w.deadlines.insert(
                                (now_ms.saturating_add(t), run.0, id.0),
                                DEADLINE_ACTIVITY_START,
                            )?;
                            fx.timers = true;
                        }
                        w.put_task(run, id.0, &task)?;
                        fx.activities = true;
                        id
                    }
                    Command::StartTimer { duration_ms } => {
                        let fire_at_ms = c.started_ms.saturating_add(duration_ms);
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::TimerStarted {
                                duration_ms,
                                fire_at_ms,
                            },
                        )?;
                        w.timers.insert((fire_at_ms, run.0, id.0), ())?;
                        fx.timers = true;
                        id
                    }
                    Command::RequestCancelActivity {
                        target,
                        cancellation_type,
                    } => {
                        let sched = resolve(target, &assigned);
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::ActivityTaskCancelRequested {
                                scheduled_event_id: sched,
                                cancellation_type,
                            },
                        )?;
                        // TryCancel and Abandon resolve the wait at this event.
                        resolved_now |=
                            cancellation_type != CancellationType::WaitCancellationCompleted;
                        let task = match cancellation_type {
                            CancellationType::Abandon => None,
                            _ => w.get_task(run, sched.0)?,
                        };
                        if let Some(mut task) = task {
                            if task.leased {
                                // The running attempt learns it; its end records the outcome.
                                task.cancel_requested = true;
                                w.put_task(run, sched.0, &task)?;
                                fx.cancel_activities.push((run, sched));
                            } else {
                                w.remove_task(&rec.namespace, run, sched.0, &task)?;
                                w.append(
                                    run,
                                    &mut rec,
                                    now_ms,
                                    EventKind::ActivityTaskCanceled {
                                        scheduled_event_id: sched,
                                    },
                                )?;
                                resolved_now = true;
                            }
                        }
                        id
                    }
                    Command::CancelTimer { target } => {
                        let started = resolve(target, &assigned);
                        let fire_at = match w.history.get((run.0, started.0))? {
                            Some(v) => match history::decode_event(v.value())
                                .map_err(|source| StoreError::Encoding { run, source })?
                                .kind
                            {
                                EventKind::TimerStarted { fire_at_ms, .. } => Some(fire_at_ms),
                                _ => None,
                            },
                            None => None,
                        };
                        let pending = match fire_at {
                            Some(f) => w.timers.remove((f, run.0, started.0))?.is_some(),
                            None => false,
                        };
                        resolved_now |= pending;
                        w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::TimerCanceled {
                                started_event_id: started,
                            },
                        )?
                    }
                    Command::ScheduleNexusOperation {
                        endpoint,
                        service,
                        operation,
                        input,
                        schedule_to_close_timeout_ms,
                    } => {
                        let request_id = nexus_request_id(run, EventId(rec.next_event_id));
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::NexusOperationScheduled {
                                endpoint: endpoint.clone(),
                                service: service.clone(),
                                operation: operation.clone(),
                                input: input.clone(),
                                request_id: request_id.clone(),
                                schedule_to_close_timeout_ms,
                            },
                        )?;
                        let task = NexusTask {
                            workflow_id: rec.workflow_id.clone(),
                            endpoint,
                            service,
                            operation,
                            input,
                            request_id,
                            attempt: 1,
                            visible_at_ms: now_ms,
                            leased: false,
                            operation_token: None,
                            cancel_requested: false,
                            cancel_delivered: false,
                            last_failure: None,
                        };
                        w.put_nexus(run, id.0, &task)?;
                        w.nexus_queue.insert((now_ms, run.0, id.0), ())?;
                        if let Some(t) = schedule_to_close_timeout_ms {
                            w.deadlines.insert(
                                (now_ms.saturating_add(t), run.0, id.0),
                                DEADLINE_NEXUS_CLOSE,
                            )?;
                            fx.timers = true;
                        }
                        fx.nexus = true;
                        id
                    }
                    Command::RequestCancelNexusOperation { target } => {
                        let sched = resolve(target, &assigned);
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::NexusOperationCancelRequested {
                                scheduled_event_id: sched,
                            },
                        )?;
                        if let Some(mut task) = w.get_nexus(run, sched.0)? {
                            if task.operation_token.is_none() && !task.leased {
                                // Not started: there is nothing to cancel at the handler.
                                w.remove_nexus(&rec.namespace, run, sched.0, &task)?;
                                w.append(
                                    run,
                                    &mut rec,
                                    now_ms,
                                    EventKind::NexusOperationCanceled {
                                        scheduled_event_id: sched,
                                    },
                                )?;
                                resolved_now = true;
                            } else {
                                task.cancel_requested = true;
                                if task.operation_token.is_some() {
                                    // Started: deliver the cancel as a Nexus task now.
                                    w.nexus_queue.remove((task.visible_at_ms, run.0, sched.0))?;
                                    task.visible_at_ms = now_ms;
                                    task.attempt = 1;
                                    task.leased = false;
                                    w.nexus_queue.insert((now_ms, run.0, sched.0), ())?;
                                    fx.nexus = true;
                                }
                                w.put_nexus(run, sched.0, &task)?;
                            }
                        }
                        id
                    }
                    Command::CompleteWorkflow { result } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionCompleted {
                                result: result.clone(),
                            },
                        )?;
                        w.close(
                            run,
                            &mut rec,
                            RunStatus::Completed,
                            CloseOutcome::Completed(result),
                            now_ms,
                            false,
                        )?;
                        fx.closed = true;
                        id
                    }
                    Command::FailWorkflow { failure } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionFailed {
                                failure: failure.clone(),
                            },
                        )?;
                        w.close_or_retry(run, &mut rec, RunStatus::Failed, failure, now_ms)?;
                        fx.closed = true;
                        fx.workflow_task = true;
                        id
                    }
                    Command::CancelWorkflow { details } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionCanceled { details },
                        )?;
                        w.close(
                            run,
                            &mut rec,
                            RunStatus::Canceled,
                            CloseOutcome::Canceled,
                            now_ms,
                            false,
                        )?;
                        fx.closed = true;
                        id
                    }
                    Command::ContinueAsNew { input } => {
                        let attempt = rec.attempt;
                        let next =
                            w.continue_run(run, &mut rec, input.clone(), attempt, 0, now_ms)?;
                        let workflow_type = rec.workflow_type.clone();
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionContinuedAsNew {
                                new_execution_run_id: next.to_string(),
                                workflow_type,
                                input,
                            },
                        )?;
                        w.close(
                            run,
                            &mut rec,
                            RunStatus::ContinuedAsNew,
                            CloseOutcome::Canceled,
                            now_ms,
                            true,
                        )?;
                        fx.closed = true;
                        fx.workflow_task = true;
                        id
                    }
                    Command::RecordMarker {
                        marker_name,
                        details,
                    } => w.append(
                        run,
                        &mut rec,
                        now_ms,
                        EventKind::MarkerRecorded {
                            marker_name,
                            details,
                        },
                    )?,
                    Command::AcceptUpdate {
                        update_id,
                        update_name,
                        input,
                    } => w.append(
                        run,
                        &mut rec,
                        now_ms,
                        EventKind::WorkflowExecutionUpdateAccepted {
                            update_id,
                            update_name,
                            input,
                        },
                    )?,
                    Command::CompleteUpdate { update_id, outcome } => {
                        let (result, failure) = match outcome {
                            Ok(p) => (Some(p), None),
                            Err(f) => (None, Some(f)),
                        };
                        w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionUpdateCompleted {
                                update_id,
                                result,
                                failure,
                            },
                        )?
                    }
                    Command::StartChild {
                        workflow_type,
                        workflow_id,
                        input,
                        policy,
                        options,
                    } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::StartChildWorkflowExecutionInitiated {
                                workflow_id: workflow_id.0.clone(),
                                workflow_type: workflow_type.clone(),
                                input: input.clone(),
                                parent_close_policy: policy,
                                options: options.clone(),
                            },
                        )?;
                        let existing = w
                            .workflows
                            .get((rec.namespace.as_str(), workflow_id.0.as_str()))?
                            .map(|v| RunId(v.value()));
                        let busy = match existing {
                            Some(e) => {
                                let other = w.get_run(e)?;
                                !other.status.is_closed()
                                    || other.id_reuse_policy == IdReusePolicy::RejectDuplicate
                            }
                            None => false,
                        };
                        // The child is held to the namespace's quotas like any start, in
                        // this transaction; a refusal is the parent's to handle.
                        let mut refused = if busy {
                            Some(history::child_start_cause::ALREADY_STARTED)
                        } else if w
                            .quota_refusal(&rec.namespace, StartQuota::UNLIMITED)?
                            .is_some()
                        {
                            Some(history::child_start_cause::NAMESPACE_QUOTA)
                        } else {
                            None
                        };
                        let created = match refused {
                            Some(_) => None,
                            None => match w.create_run(NewRun {
                                namespace: rec.namespace.clone(),
                                workflow_id: workflow_id.clone(),
                                workflow_type,
                                input,
                                random_seed: rand::random(),
                                execution_deadline_ms: options
                                    .execution_timeout_ms
                                    .map(|t| now_ms.saturating_add(t)),
                                options,
                                id_reuse_policy: IdReusePolicy::default(),
                                attempt: 1,
                                previous_run: None,
                                parent: Some(ParentLink {
                                    run,
                                    workflow_id: rec.workflow_id.clone(),
                                    initiated_event_id: id,
                                }),
                                nexus_callback: None,
                                signal: None,
                                first_task_due_ms: now_ms,
                                now_ms,
                            }) {
                                Ok(child) => Some(child),
                                // Nothing of the child was written.
                                Err(StoreError::HistoryLimit(o)) if o.first_events => {
                                    refused = Some(history::child_start_cause::HISTORY_LIMIT);
                                    None
                                }
                                Err(e) => return Err(e),
                            },
                        };
                        if let Some(cause) = refused {
                            w.append(
                                run,
                                &mut rec,
                                now_ms,
                                EventKind::StartChildWorkflowExecutionFailed {
                                    initiated_event_id: id,
                                    workflow_id: workflow_id.0.clone(),
                                    cause: cause.into(),
                                },
                            )?;
                            resolved_now = true;
                        }
                        if let Some(child) = created {
                            w.append(
                                run,
                                &mut rec,
                                now_ms,
                                EventKind::ChildWorkflowExecutionStarted {
                                    initiated_event_id: id,
                                    workflow_id: workflow_id.0.clone(),
                                    run_id: child.to_string(),
                                },
                            )?;
                            rec.children.push(ChildLink {
                                run: child,
                                workflow_id,
                                initiated_event_id: id,
                                policy,
                            });
                            fx.workflow_task = true;
                        }
                        id
                    }
                    Command::RequestCancelChild {
                        target,
                        cancellation_type,
                    } => {
                        let initiated = resolve(target, &assigned);
                        // Every type but WaitCancellationCompleted resolves the wait at this
                        // event or at ExternalWorkflowExecutionCancelRequested, written now.
                        resolved_now |=
                            cancellation_type != CancellationType::WaitCancellationCompleted;
                        let child = rec
                            .children
                            .iter()
                            .find(|c| c.initiated_event_id == initiated)
                            .cloned();
                        let workflow_id = child
                            .as_ref()
                            .map(|c| c.workflow_id.0.clone())
                            .unwrap_or_default();
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                                initiated_event_id: initiated,
                                workflow_id: workflow_id.clone(),
                                cancellation_type,
                            },
                        )?;
                        let child = match cancellation_type {
                            CancellationType::Abandon => None,
                            _ => child,
                        };
                        if let Some(c) = child {
                            let mut crec = w.get_run(c.run)?;
                            if !crec.status.is_closed() {
                                w.request_cancel(
                                    c.run,
                                    &mut crec,
                                    "canceled by its parent",
                                    now_ms,
                                )?;
                                w.put_run(c.run, &crec)?;
                                w.append(
                                    run,
                                    &mut rec,
                                    now_ms,
                                    EventKind::ExternalWorkflowExecutionCancelRequested {
                                        initiated_event_id: id,
                                        workflow_id,
                                    },
                                )?;
                                fx.workflow_task = true;
                            }
                        }
                        id
                    }
                    Command::SignalExternal {
                        workflow_id,
                        run_id,
                        signal_name,
                        input,
                    } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::SignalExternalWorkflowExecutionInitiated {
                                workflow_id: workflow_id.0.clone(),
                                run_id: run_id.clone(),
                                signal_name: signal_name.clone(),
                                input: input.clone(),
                            },
                        )?;
                        let target =
                            w.open_run_of(&rec.namespace, &workflow_id, run_id.as_deref())?;
                        let outcome = match target {
                            None => Err(history::external_cause::NOT_FOUND),
                            Some(t) if t == run => {
                                w.signal(run, &mut rec, &signal_name, input, now_ms)?;
                                Ok(t)
                            }
                            Some(t) => {
                                let mut trec = w.get_run(t)?;
                                if w.signal_fits(t, &trec, &signal_name, &input, now_ms)? {
                                    w.signal(t, &mut trec, &signal_name, input, now_ms)?;
                                    w.put_run(t, &trec)?;
                                    Ok(t)
                                } else {
                                    Err(history::external_cause::HISTORY_LIMIT)
                                }
                            }
                        };
                        let kind = match outcome {
                            Ok(t) => EventKind::ExternalWorkflowExecutionSignaled {
                                initiated_event_id: id,
                                workflow_id: workflow_id.0,
                                run_id: t.to_string(),
                            },
                            Err(cause) => EventKind::SignalExternalWorkflowExecutionFailed {
                                initiated_event_id: id,
                                workflow_id: workflow_id.0,
                                cause: cause.into(),
                            },
                        };
                        w.append(run, &mut rec, now_ms, kind)?;
                        resolved_now = true;
                        fx.workflow_task = true;
                        id
                    }
                    Command::RequestCancelExternal {
                        workflow_id,
                        run_id,
                        reason,
                    } => {
                        let id = w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::RequestCancelExternalWorkflowExecutionInitiated {
                                initiated_event_id: EventId(0),
                                workflow_id: workflow_id.0.clone(),
                                cancellation_type: CancellationType::default(),
                            },
                        )?;
                        let target =
                            w.open_run_of(&rec.namespace, &workflow_id, run_id.as_deref())?;
                        // A target at its history limit is terminated instead (as for a
                        // client's cancel request); the task is then committed again.
                        let kind = match target {
                            None => EventKind::RequestCancelExternalWorkflowExecutionFailed {
                                initiated_event_id: id,
                                workflow_id: workflow_id.0,
                                cause: history::external_cause::NOT_FOUND.into(),
                            },
                            Some(t) => {
                                if t == run {
                                    w.request_cancel(run, &mut rec, &reason, now_ms)?;
                                } else {
                                    let mut trec = w.get_run(t)?;
                                    w.request_cancel(t, &mut trec, &reason, now_ms)?;
                                    w.put_run(t, &trec)?;
                                }
                                EventKind::ExternalWorkflowExecutionCancelRequested {
                                    initiated_event_id: id,
                                    workflow_id: workflow_id.0,
                                }
                            }
                        };
                        w.append(run, &mut rec, now_ms, kind)?;
                        resolved_now = true;
                        fx.workflow_task = true;
                        id
                    }
                };
                assigned.push(id);
            }
            if resolved_now {
                fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
            }
            fx.next_event_id = rec.next_event_id;
            w.put_run(run, &rec)?;
        }
        tx.commit()?;
        Ok(fx)
    }

    /// Records a failed Workflow Task and schedules the next attempt at `retry_at_ms`.
    ///
    /// The first failure of a series writes WorkflowTaskStarted and WorkflowTaskFailed; later
    /// attempts are transient, as in Temporal, and only update the run record. The run stays
    /// open, unless recording the failure would take its history past its limit: then it is
    /// terminated.
    pub fn fail_workflow_task(
        &self,
        run: RunId,
        attempt: u32,
        started_ms: u64,
        cause: WorkflowTaskFailedCause,
        message: &str,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.or_terminate(started_ms, 0, || {
            self.fail_workflow_task_once(
                run,
                attempt,
                started_ms,
                cause.clone(),
                message,
                retry_at_ms,
            )
        })
    }

    fn fail_workflow_task_once(
        &self,
        run: RunId,
        attempt: u32,
        started_ms: u64,
        cause: WorkflowTaskFailedCause,
        message: &str,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut w = W::open(&tx, &self.limits)?;
            let mut rec = w.get_run(run)?;
            let Some(mut pending) = rec.workflow_task.take() else {
                return Ok(());
            };
            w.wft.remove((pending.due_ms, run.0))?;
            if let (1, Some(scheduled)) = (attempt, pending.scheduled_event_id) {
                let started = w.append(
                    run,
                    &mut rec,
                    started_ms,
                    EventKind::WorkflowTaskStarted {
                        scheduled_event_id: scheduled,
                    },
                )?;
                w.append(
                    run,
                    &mut rec,
                    started_ms,
                    EventKind::WorkflowTaskFailed {
                        started_event_id: started,
                        cause,
                        message: message.to_string(),
                    },
                )?;
            }
            pending.attempt = attempt + 1;
            pending.due_ms = retry_at_ms;
            pending.scheduled_event_id = None;
            pending.last_failure = Some(message.to_string());
            w.wft.insert((retry_at_ms, run.0), ())?;
            rec.workflow_task = Some(pending);
            w.put_run(run, &rec)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Hands out up to `limit` activity tasks of queue `queue_key` visible at `now_ms`,
    /// leasing each until its start-to-close (or heartbeat) deadline. A task whose lease
    /// expired counts as a failed attempt (timed out, or its worker was lost) and is retried or
    /// ended by its retry policy; one that waited past its schedule-to-start timeout ends as
    /// timed out. A run whose history cannot take such an outcome is terminated at its limit.
    pub fn lease_activities(
        &self,
        queue_key: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<(Vec<LeasedActivity>, Effects), StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.lease_activities_once(queue_key, now_ms, limit)
        })
    }

    fn lease_activities_once(
        &self,
        queue_key: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<(Vec<LeasedActivity>, Effects), StoreError> {
        // The queue key starts with the namespace, which names cannot contain '/' in.
        let namespace =
            Namespace::new(queue_key.split('/').next().unwrap_or_default()).map_err(|reason| {
                StoreError::Encoding {
                    run: RunId(0),
                    source: EncodingError::Corrupt(reason),
                }
            })?;
        let tx = self.db.begin_write()?;
        let mut out = Vec::new();
        let mut fx = Effects::default();
        {
            let mut w = W::open(&tx, &self.limits)?;
            let due: Vec<(u64, u128, u64)> = w
                .queue
                .range((queue_key, 0, 0, 0)..=(queue_key, now_ms, u128::MAX, u64::MAX))?
                .take(limit)
                .map(|e| e.map(|(k, _)| (k.value().1, k.value().2, k.value().3)))
                .collect::<Result<_, _>>()?;
            for (visible, run_id, sched) in due {
                let run = RunId(run_id);
                let Some(mut task) = w.get_task(run, sched)? else {
                    w.queue.remove((queue_key, visible, run_id, sched))?;
                    continue;
                };
                if task.leased {
                    let (expiry, kind) = task.lease_expiry();
                    let failure = if now_ms >= expiry {
                        Failure::new(
                            kind,
                            format!(
                                "attempt {} timed out ({kind}) without reporting",
                                task.attempt
                            ),
                        )
                    } else {
                        Failure::new(
                            "WorkerLost",
                            format!(
                                "the host process running attempt {} stopped before it ended",
                                task.attempt
                            ),
                        )
                    };
                    let attempt = task.attempt;
                    w.settle_activity(
                        run,
                        EventId(sched),
                        task,
                        attempt,
                        Err(failure),
                        now_ms,
                        &mut fx,
                    )?;
                    continue;
                }
                if let Some(s2s) = task.schedule_to_start_timeout_ms
                    && now_ms > task.visible_at_ms.saturating_add(s2s)
                {
                    let failure = Failure::new(
                        "ScheduleToStartTimeout",
                        format!(
                            "attempt {} waited in its queue longer than {s2s} ms",
                            task.attempt
                        ),
                    );
                    w.time_out_activity(run, EventId(sched), &task, failure, now_ms, &mut fx)?;
                    continue;
                }
                w.queue.remove((queue_key, visible, run_id, sched))?;
                task.leased = true;
                task.attempt_started_ms = now_ms;
                task.last_heartbeat_ms = None;
                task.visible_at_ms = task.lease_expiry().0;
                w.queue
                    .insert((queue_key, task.visible_at_ms, run_id, sched), ())?;
                w.put_task(run, sched, &task)?;
                out.push(LeasedActivity {
                    run,
                    namespace: namespace.clone(),
                    scheduled_event_id: EventId(sched),
                    task,
                });
            }
        }
        tx.commit()?;
        Ok((out, fx))
    }

    /// Records how attempt `attempt` of an activity ended. A result completes it
    /// (ActivityTaskStarted + ActivityTaskCompleted). A failure after a cancel request cancels
    /// it (ActivityTaskCanceled); otherwise a retryable failure queues the next attempt after
    /// the retry policy's delay (no event) unless that would pass the schedule-to-close
    /// timeout, and a final failure records ActivityTaskFailed, or ActivityTaskTimedOut for a
    /// timeout. Each final outcome schedules a Workflow Task.
    ///
    /// Returns `None` when the attempt is no longer current (the activity ended, timed out or
    /// its run closed): the outcome is dropped, as at-least-once delivery allows. An outcome
    /// the run's history cannot take within its limit is not recorded: the run is terminated
    /// instead (the workflow cannot go on without it), and `None` is returned.
    pub fn report_activity(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.report_activity_once(run, scheduled_event_id, attempt, outcome.clone(), now_ms)
        })
    }

    fn report_activity_once(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut fx = Effects::default();
        {
            let mut w = W::open(&tx, &self.limits)?;
            let Some(task) = w.get_task(run, scheduled_event_id.0)? else {
                return Ok(None);
            };
            if task.attempt != attempt || !task.leased {
                return Ok(None);
            }
            w.settle_activity(
                run,
                scheduled_event_id,
                task,
                attempt,
                outcome,
                now_ms,
                &mut fx,
            )?;
        }
        tx.commit()?;
        Ok(Some(fx))
    }

    /// Records a heartbeat of attempt `attempt`: keeps `details` for later attempts and moves
    /// the lease to the next heartbeat deadline.
    pub fn heartbeat(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        details: Option<Payload>,
        now_ms: u64,
    ) -> Result<HeartbeatAck, StoreError> {
        let tx = self.db.begin_write()?;
        let ack;
        {
            let mut w = W::open(&tx, &self.limits)?;
            let sched = scheduled_event_id.0;
            let Some(mut task) = w.get_task(run, sched)? else {
                return Ok(HeartbeatAck::Gone);
            };
            if task.attempt != attempt || !task.leased {
                return Ok(HeartbeatAck::Gone);
            }
            let ns = w.get_run(run)?.namespace;
            let qk = queue_key(&ns, &task.task_queue);
            w.queue
                .remove((qk.as_str(), task.visible_at_ms, run.0, sched))?;
            if details.is_some() {
                task.heartbeat_details = details;
            }
            task.last_heartbeat_ms = Some(now_ms);
            task.visible_at_ms = task.lease_expiry().0;
            w.queue
                .insert((qk.as_str(), task.visible_at_ms, run.0, sched), ())?;
            ack = if task.cancel_requested {
                HeartbeatAck::CancelRequested
            } else {
                HeartbeatAck::Continue
            };
            w.put_task(run, sched, &task)?;
        }
        tx.commit()?;
        Ok(ack)
    }

    /// Fires every timer due at `now_ms` (TimerFired) and every due deadline (activity and
    /// Nexus timeouts), and schedules a Workflow Task for each open run affected. Returns how
    /// many fired. A run whose history cannot take what fired is terminated at its limit.
    pub fn fire_timers(&self, now_ms: u64) -> Result<(usize, Effects), StoreError> {
        self.or_terminate(now_ms, 0, || self.fire_timers_once(now_ms))
    }

    fn fire_timers_once(&self, now_ms: u64) -> Result<(usize, Effects), StoreError> {
        let tx = self.db.begin_write()?;
        let mut fired = 0;
        let mut fx = Effects::default();
        {
            let mut w = W::open(&tx, &self.limits)?;
            let due: Vec<(u64, u128, u64)> = w
                .timers
                .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for key in due {
                w.timers.remove(key)?;
                let (_, run, started) = key;
                let run = RunId(run);
                let mut rec = w.get_run(run)?;
                if rec.status.is_closed() {
                    continue;
                }
                w.append(
                    run,
                    &mut rec,
                    now_ms,
                    EventKind::TimerFired {
                        started_event_id: EventId(started),
                    },
                )?;
                fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
                w.put_run(run, &rec)?;
                fired += 1;
            }
            let due: Vec<((u64, u128, u64), u8)> = w
                .deadlines
                .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))?
                .map(|e| e.map(|(k, v)| (k.value(), v.value())))
                .collect::<Result<_, _>>()?;
            for (key, kind) in due {
                w.deadlines.remove(key)?;
                let (_, run_id, sched) = key;
                let run = RunId(run_id);
                match kind {
                    DEADLINE_ACTIVITY_CLOSE | DEADLINE_ACTIVITY_START => {
                        let Some(task) = w.get_task(run, sched)? else {
                            continue;
                        };
                        let failure = if kind == DEADLINE_ACTIVITY_CLOSE {
                            Failure::new(
                                "ScheduleToCloseTimeout",
                                format!(
                                    "the activity did not finish within {} ms of being scheduled",
                                    task.schedule_to_close_timeout_ms.unwrap_or(0)
                                ),
                            )
                        } else {
                            let s2s = task.schedule_to_start_timeout_ms.unwrap_or(0);
                            if task.leased || now_ms < task.visible_at_ms.saturating_add(s2s) {
                                continue; // started in time, or a later attempt
                            }
                            Failure::new(
                                "ScheduleToStartTimeout",
                                format!(
                                    "attempt {} waited in its queue longer than {s2s} ms",
                                    task.attempt
                                ),
                            )
                        };
                        w.time_out_activity(run, EventId(sched), &task, failure, now_ms, &mut fx)?;
                        fired += 1;
                    }
                    DEADLINE_NEXUS_CLOSE => {
                        let Some(task) = w.get_nexus(run, sched)? else {
                            continue;
                        };
                        let mut rec = w.get_run(run)?;
                        w.remove_nexus(&rec.namespace, run, sched, &task)?;
                        if rec.status.is_closed() {
                            continue;
                        }
                        w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::NexusOperationTimedOut {
                                scheduled_event_id: EventId(sched),
                                failure: Failure::new(
                                    "ScheduleToCloseTimeout",
                                    "the Nexus operation did not finish within its schedule-to-close timeout",
                                ),
                            },
                        )?;
                        fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
                        w.put_run(run, &rec)?;
                        fired += 1;
                    }
                    DEADLINE_RUN_TIMEOUT | DEADLINE_EXECUTION_TIMEOUT => {
                        let mut rec = w.get_run(run)?;
                        if rec.status.is_closed() {
                            continue;
                        }
                        let (timeout, limit) = if kind == DEADLINE_RUN_TIMEOUT {
                            ("RunTimeout", rec.options.run_timeout_ms)
                        } else {
                            ("ExecutionTimeout", rec.options.execution_timeout_ms)
                        };
                        w.append(
                            run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionTimedOut {
                                timeout: timeout.into(),
                            },
                        )?;
                        let failure = Failure::new(
                            "TimedOut",
                            format!(
                                "the workflow passed its {timeout} of {} ms",
                                limit.unwrap_or(0)
                            ),
                        );
                        if kind == DEADLINE_RUN_TIMEOUT {
                            w.close_or_retry(run, &mut rec, RunStatus::TimedOut, failure, now_ms)?;
                        } else {
                            w.close(
                                run,
                                &mut rec,
                                RunStatus::TimedOut,
                                CloseOutcome::TimedOut,
                                now_ms,
                                false,
                            )?;
                        }
                        w.put_run(run, &rec)?;
                        fx.closed = true;
                        fx.workflow_task = true;
                        fired += 1;
                    }
                    _ => {}
                }
            }
        }
        tx.commit()?;
        Ok((fired, fx))
    }

    /// Hands out up to `limit` due Nexus tasks (a start, or the cancel of a started
    /// operation), leasing each for `lease_ms`; an expired lease hands the task out again with
    /// the same request id. `admit` is asked for each task's namespace first (its fair share of
    /// the host's Nexus slots); a task it refuses stays queued.
    pub fn lease_nexus<T>(
        &self,
        now_ms: u64,
        limit: usize,
        lease_ms: u64,
        mut admit: impl FnMut(&Namespace) -> Option<T>,
    ) -> Result<Vec<(LeasedNexus, T)>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut out = Vec::new();
        {
            let mut w = W::open(&tx, &self.limits)?;
            let due: Vec<(u64, u128, u64)> = w
                .nexus_queue
                .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))?
                .take(limit)
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for key in due {
                let (_, run_id, sched) = key;
                let run = RunId(run_id);
                let namespace = w.get_run(run)?.namespace;
                let Some(admitted) = admit(&namespace) else {
                    // The namespace is at its share: the task stays queued.
                    continue;
                };
                w.nexus_queue.remove(key)?;
                let Some(mut task) = w.get_nexus(run, sched)? else {
                    continue;
                };
                let kind = if task.operation_token.is_none() {
                    NexusTaskKind::Start
                } else if task.cancel_requested && !task.cancel_delivered {
                    NexusTaskKind::Cancel
                } else {
                    continue;
                };
                if task.leased {
                    // The previous delivery's lease expired: deliver again.
                    task.attempt += 1;
                }
                task.leased = true;
                task.visible_at_ms = now_ms.saturating_add(lease_ms);
                w.nexus_queue
                    .insert((task.visible_at_ms, run_id, sched), ())?;
                w.put_nexus(run, sched, &task)?;
                out.push((
                    LeasedNexus {
                        run,
                        namespace,
                        scheduled_event_id: EventId(sched),
                        kind,
                        task,
                    },
                    admitted,
                ));
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Records what a Nexus task delivery of attempt `attempt` achieved. A caller whose
    /// history cannot take it within its limit is terminated instead (`None`).
    pub fn report_nexus(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        report: NexusReport,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.report_nexus_once(run, scheduled_event_id, attempt, report.clone(), now_ms)
        })
    }

    fn report_nexus_once(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        report: NexusReport,
        now_ms: u64,
    ) -> Result<Option<Effects>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut fx = Effects::default();
        {
            let mut w = W::open(&tx, &self.limits)?;
            let sched = scheduled_event_id.0;
            let Some(mut task) = w.get_nexus(run, sched)? else {
                return Ok(None);
            };
            if task.attempt != attempt || !task.leased {
                return Ok(None);
            }
            let mut rec = w.get_run(run)?;
            w.nexus_queue.remove((task.visible_at_ms, run.0, sched))?;
            task.leased = false;
            match report {
                NexusReport::Started { operation_token } => {
                    w.append(
                        run,
                        &mut rec,
                        now_ms,
                        EventKind::NexusOperationStarted {
                            scheduled_event_id,
                            operation_token: operation_token.clone(),
                        },
                    )?;
                    w.tokens.insert(
                        (rec.namespace.as_str(), operation_token.as_str()),
                        (run.0, sched),
                    )?;
                    task.operation_token = Some(operation_token);
                    task.attempt = 1;
                    if task.cancel_requested {
                        task.visible_at_ms = now_ms;
                        w.nexus_queue.insert((now_ms, run.0, sched), ())?;
                        fx.nexus = true;
                    }
                    w.put_nexus(run, sched, &task)?;
                    fx.workflow_task |= w.schedule_wft(run, &mut rec, now_ms)?;
                }
                NexusReport::Finished(outcome) => {
                    w.finish_nexus(
                        run,
                        &mut rec,
                        scheduled_event_id,
                        &task,
                        outcome,
                        now_ms,
                        &mut fx,
                    )?;
                }
                NexusReport::CancelDelivered => {
                    task.cancel_delivered = true;
                    w.put_nexus(run, sched, &task)?;
                }
                NexusReport::Retry {
                    failure,
                    retry_at_ms,
                } => {
                    task.attempt += 1;
                    task.last_failure = Some(failure);
                    task.visible_at_ms = retry_at_ms;
                    w.nexus_queue.insert((retry_at_ms, run.0, sched), ())?;
                    w.put_nexus(run, sched, &task)?;
                }
            }
            w.put_run(run, &rec)?;
        }
        tx.commit()?;
        Ok(Some(fx))
    }

    /// Completes the started asynchronous Nexus operation `token` of `namespace` (the
    /// completion callback of its handler). Returns false if no such operation is pending,
    /// or if the caller's history could not take the outcome within its limit (the caller is
    /// then terminated).
    pub fn complete_nexus(
        &self,
        namespace: &Namespace,
        token: &str,
        outcome: NexusOutcome,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.or_terminate(now_ms, 0, || {
            self.complete_nexus_once(namespace, token, outcome.clone(), now_ms)
        })
    }

    fn complete_nexus_once(
        &self,
        namespace: &Namespace,
        token: &str,
        outcome: NexusOutcome,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut w = W::open(&tx, &self.limits)?;
            let Some((run_id, sched)) = w
                .tokens
                .get((namespace.as_str(), token))?
                .map(|v| v.value())
            else {
                return Ok(false);
            };
            let run = RunId(run_id);
            let Some(task) = w.get_nexus(run, sched)? else {
                return Ok(false);
            };
            let mut rec = w.get_run(run)?;
            let mut fx = Effects::default();
            w.finish_nexus(
                run,
                &mut rec,
                EventId(sched),
                &task,
                outcome,
                now_ms,
                &mut fx,
            )?;
            w.put_run(run, &rec)?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Cancels workflow `id` of `namespace` on behalf of the Nexus operation that started it:
    /// the run ends (WorkflowExecutionTerminated) and the operation is reported canceled.
    pub fn cancel_nexus_workflow(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let (run, _) = self.current_run(namespace, id)?;
        self.terminate_as(run, "canceled by its Nexus caller", now_ms, true)
    }
}

/// Read-only access for the CLI while a host may be writing. It never writes the file: one
/// that needs crash recovery or a schema upgrade (which only a writer does in place) is read
/// through a private copy, recovered and upgraded as a host would, in the temporary directory.
pub struct ReadOnlyStore {
    db: redb::ReadOnlyDatabase,
    /// The recovered copy `db` reads, if any (dropped after `db`).
    copy: Option<RecoveredCopy>,
}

/// How often a read-only open copies a file that changes while it is copied.
const COPY_ATTEMPTS: usize = 3;

/// A private copy of a database file, removed when dropped.
struct RecoveredCopy {
    path: PathBuf,
    /// Why the file itself could not be read.
    why: &'static str,
}

impl Drop for RecoveredCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What a read-only open found in place.
enum InPlace {
    Readable(redb::ReadOnlyDatabase),
    /// Needs what only a writer does; the reason.
    NeedsWriter(&'static str),
}

/// Length and modification time: whether a file changed meanwhile.
fn stamp(path: &Path) -> std::io::Result<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path)?;
    Ok((m.len(), m.modified()?))
}

impl ReadOnlyStore {
    /// Opens `path` for reading without ever writing it. Refuses a missing or empty file
    /// ([`StoreError::NoDatabase`]), files of a newer schema and files that are not weft
    /// databases. A file left unclean by a crash, or written by an earlier release, is read
    /// through a recovered copy (see [`ReadOnlyStore::copy_reason`]).
    pub fn open(path: impl AsRef<Path>) -> Result<ReadOnlyStore, StoreError> {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => return Err(no_database(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_database(path)),
            // redb reports it (permissions, ...).
            Err(_) => {}
        }
        let mut reason = String::new();
        for _ in 0..COPY_ATTEMPTS {
            let why = match ReadOnlyStore::open_in_place(path)? {
                InPlace::Readable(db) => return Ok(ReadOnlyStore { db, copy: None }),
                InPlace::NeedsWriter(why) => why,
            };
            match ReadOnlyStore::copy_to_temp(path, why) {
                Ok(Some(copy)) => return ReadOnlyStore::open_recovered(path, copy),
                // A writer started on it meanwhile: read it in place again.
                Ok(None) => reason = "the file changed while it was copied".into(),
                Err(io) => {
                    reason = io;
                    break;
                }
            }
        }
        Err(StoreError::NeedsRecovery {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Why the file was read through a recovered copy ("was not closed cleanly", "is of an
    /// older schema"); `None` when it was read in place.
    pub fn copy_reason(&self) -> Option<&'static str> {
        self.copy.as_ref().map(|c| c.why)
    }

    fn open_in_place(path: &Path) -> Result<InPlace, StoreError> {
        let db = match builder().open_read_only(path) {
            Err(redb::DatabaseError::RepairAborted) => {
                return Ok(InPlace::NeedsWriter("was not closed cleanly"));
            }
            other => other.map_err(|e| open_error(path, e))?,
        };
        let tx = db.begin_read()?;
        let meta = tx.open_table(META).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("no weft schema table ({e})"),
        })?;
        let found = meta.get("schema_version")?.map(|v| v.value());
        check_schema(path, found)?;
        drop(meta);
        drop(tx);
        if found != Some(SCHEMA_VERSION) {
            return Ok(InPlace::NeedsWriter("is of an older schema"));
        }
        Ok(InPlace::Readable(db))
    }

    /// A copy of `path` in the temporary directory; `None` if the file changed meanwhile,
    /// `Err` saying why no copy could be made.
    fn copy_to_temp(path: &Path, why: &'static str) -> Result<Option<RecoveredCopy>, String> {
        let io = |e: std::io::Error| e.to_string();
        let before = stamp(path).map_err(io)?;
        let copy = RecoveredCopy {
            path: std::env::temp_dir().join(format!(
                "weft-read-{}-{:016x}.redb",
                std::process::id(),
                rand::random::<u64>()
            )),
            why,
        };
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&copy.path)
            .map_err(|e| format!("cannot create {}: {e}", copy.path.display()))?;
        let mut from = std::fs::File::open(path).map_err(io)?;
        std::io::copy(&mut from, &mut to)
            .map_err(|e| format!("cannot copy it to {}: {e}", copy.path.display()))?;
        drop(to);
        if stamp(path).map_err(io)? != before {
            return Ok(None);
        }
        Ok(Some(copy))
    }

    /// Recovers and upgrades `copy` of `path` as a host would, and opens it for reading.
    fn open_recovered(path: &Path, copy: RecoveredCopy) -> Result<ReadOnlyStore, StoreError> {
        let as_file = |e: StoreError| match e {
            StoreError::Corrupt { reason, .. } => StoreError::Corrupt {
                path: path.to_path_buf(),
                reason,
            },
            StoreError::NewerSchema {
                found, supported, ..
            } => StoreError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported,
            },
            other => other,
        };
        Store::open(&copy.path, 0).map_err(as_file)?.close();
        let db = builder()
            .open_read_only(&copy.path)
            .map_err(|e| as_file(open_error(&copy.path, e)))?;
        Ok(ReadOnlyStore {
            db,
            copy: Some(copy),
        })
    }

    /// The current run of workflow `id` in `namespace`, its record and its history.
    pub fn workflow(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<(RunId, RunRecord, Vec<Event>), StoreError> {
        let tx = self.db.begin_read()?;
        let workflows = tx.open_table(WORKFLOWS)?;
        let run = workflows
            .get((namespace.as_str(), id.0.as_str()))?
            .map(|v| RunId(v.value()))
            .ok_or_else(|| StoreError::UnknownWorkflow(id.clone()))?;
        let runs = tx.open_table(RUNS)?;
        let rec = get_run(&runs, run)?;
        let history = tx.open_table(HISTORY)?;
        let mut events = Vec::new();
        for entry in history.range((run.0, 0)..=(run.0, u64::MAX))? {
            let (_, v) = entry?;
            events.push(
                history::decode_event(v.value())
                    .map_err(|source| StoreError::Encoding { run, source })?,
            );
        }
        Ok((run, rec, events))
    }

    /// The record of `run`.
    pub fn run(&self, run: RunId) -> Result<RunRecord, StoreError> {
        let tx = self.db.begin_read()?;
        get_run(&tx.open_table(RUNS)?, run)
    }

    /// The current run of workflow `id` in `namespace` and its record, without its history.
    pub fn current_run(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<(RunId, RunRecord), StoreError> {
        let tx = self.db.begin_read()?;
        let run = tx
            .open_table(WORKFLOWS)?
            .get((namespace.as_str(), id.0.as_str()))?
            .map(|v| RunId(v.value()))
            .ok_or_else(|| StoreError::UnknownWorkflow(id.clone()))?;
        Ok((run, get_run(&tx.open_table(RUNS)?, run)?))
    }

    /// Every workflow of `namespace` (all namespaces if `None`) with its current run's
    /// record.
    pub fn list(
        &self,
        namespace: Option<&Namespace>,
    ) -> Result<Vec<(WorkflowId, RunId, RunRecord)>, StoreError> {
        let tx = self.db.begin_read()?;
        let workflows = tx.open_table(WORKFLOWS)?;
        let runs = tx.open_table(RUNS)?;
        let mut out = Vec::new();
        for entry in workflows.iter()? {
            let (k, v) = entry?;
            let (ns, id) = k.value();
            if namespace.is_some_and(|n| n.as_str() != ns) {
                continue;
            }
            let run = RunId(v.value());
            out.push((WorkflowId(id.to_string()), run, get_run(&runs, run)?));
        }
        Ok(out)
    }
}

/// Every table a write transaction may change, opened once per transaction.
struct W<'t> {
    workflows: redb::Table<'t, (&'static str, &'static str), u128>,
    runs: redb::Table<'t, u128, &'static [u8]>,
    history: redb::Table<'t, (u128, u64), &'static [u8]>,
    wft: redb::Table<'t, (u64, u128), ()>,
    tasks: redb::Table<'t, (u128, u64), &'static [u8]>,
    queue: redb::Table<'t, (&'static str, u64, u128, u64), ()>,
    timers: redb::Table<'t, (u64, u128, u64), ()>,
    deadlines: redb::Table<'t, (u64, u128, u64), u8>,
    nexus: redb::Table<'t, (u128, u64), &'static [u8]>,
    nexus_queue: redb::Table<'t, (u64, u128, u64), ()>,
    tokens: redb::Table<'t, (&'static str, &'static str), (u128, u64)>,
    usage: redb::Table<'t, &'static str, (u64, u64)>,
    limits: &'t StoreLimits,
}

impl<'t> W<'t> {
    fn open(tx: &'t redb::WriteTransaction, limits: &'t StoreLimits) -> Result<W<'t>, StoreError> {
        Ok(W {
            limits,
            workflows: tx.open_table(WORKFLOWS)?,
            runs: tx.open_table(RUNS)?,
            history: tx.open_table(HISTORY)?,
            wft: tx.open_table(WORKFLOW_TASKS)?,
            tasks: tx.open_table(ACTIVITY_TASKS)?,
            queue: tx.open_table(ACTIVITY_QUEUE)?,
            timers: tx.open_table(TIMERS)?,
            deadlines: tx.open_table(DEADLINES)?,
            nexus: tx.open_table(NEXUS_TASKS)?,
            nexus_queue: tx.open_table(NEXUS_QUEUE)?,
            tokens: tx.open_table(NEXUS_TOKENS)?,
            usage: tx.open_table(NS_USAGE)?,
        })
    }

    fn get_run(&self, run: RunId) -> Result<RunRecord, StoreError> {
        get_run(&self.runs, run)
    }

    fn put_run(&mut self, run: RunId, rec: &RunRecord) -> Result<(), StoreError> {
        put_run(&mut self.runs, &mut self.usage, run, rec)
    }

    /// Appends one event to `rec`'s history, unless it would take the history past its
    /// namespace's limits ([`StoreError::HistoryLimit`]; nothing is written). The closing
    /// events the host decides (WorkflowExecutionTerminated, WorkflowExecutionTimedOut) are
    /// always written: they end the run, so its history grows by that one small event only.
    fn append(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        time_ms: u64,
        kind: EventKind,
    ) -> Result<EventId, StoreError> {
        let closing = matches!(
            kind,
            EventKind::WorkflowExecutionTerminated { .. }
                | EventKind::WorkflowExecutionTimedOut { .. }
        );
        let recording = kind.name();
        let id = EventId(rec.next_event_id);
        let bytes = history::encode(&Event { id, time_ms, kind });
        if !closing {
            self.check_growth(run, rec, recording, 1, bytes.len() as u64)?;
        }
        self.history.insert((run.0, id.0), bytes.as_slice())?;
        rec.next_event_id += 1;
        rec.history_bytes += bytes.len() as u64;
        Ok(id)
    }

    /// Fails with [`StoreError::HistoryLimit`] if `events` more events and `bytes` more bytes
    /// would take `rec`'s history past its namespace's limits.
    fn check_growth(
        &self,
        run: RunId,
        rec: &RunRecord,
        recording: &'static str,
        events: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        let lim = self.limits.of(&rec.namespace);
        let events = (rec.next_event_id - 1).saturating_add(events);
        let bytes = rec.history_bytes.saturating_add(bytes);
        match overflow_of(lim, run, &rec.workflow_id, recording, events, bytes) {
            Some(o) => Err(StoreError::HistoryLimit(o)),
            None => Ok(()),
        }
    }

    /// The error that refuses opening one more run in `namespace`, if that would pass the
    /// tighter of `quota` and the namespace's quotas. Read in the caller's transaction, so
    /// runs it opened already count.
    fn quota_refusal(
        &self,
        namespace: &Namespace,
        quota: StartQuota,
    ) -> Result<Option<StoreError>, StoreError> {
        let quota = quota.tighter(self.limits.of(namespace).start);
        let usage = get_usage(&self.usage, namespace)?;
        let refused = |what, limit| {
            Some(StoreError::QuotaExceeded {
                namespace: namespace.clone(),
                what,
                limit,
            })
        };
        Ok(if usage.open_workflows >= quota.max_open_workflows {
            refused("open workflows", quota.max_open_workflows)
        } else if usage.stored_bytes >= quota.max_stored_bytes {
            refused("stored history bytes", quota.max_stored_bytes)
        } else {
            None
        })
    }

    /// Writes WorkflowTaskScheduled and queues the task unless one is already pending.
    fn schedule_wft(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        if rec.workflow_task.is_some() || rec.status.is_closed() {
            return Ok(false);
        }
        let id = self.append(
            run,
            rec,
            now_ms,
            EventKind::WorkflowTaskScheduled { attempt: 1 },
        )?;
        self.wft.insert((now_ms, run.0), ())?;
        rec.workflow_task = Some(PendingWorkflowTask {
            attempt: 1,
            due_ms: now_ms,
            scheduled_event_id: Some(id),
            last_failure: None,
        });
        Ok(true)
    }

    fn get_task(&self, run: RunId, sched: u64) -> Result<Option<ActivityTask>, StoreError> {
        get_task(&self.tasks, run, sched)
    }

    fn put_task(&mut self, run: RunId, sched: u64, task: &ActivityTask) -> Result<(), StoreError> {
        self.tasks
            .insert((run.0, sched), history::encode(task).as_slice())?;
        Ok(())
    }

    fn remove_task(
        &mut self,
        ns: &Namespace,
        run: RunId,
        sched: u64,
        task: &ActivityTask,
    ) -> Result<(), StoreError> {
        self.tasks.remove((run.0, sched))?;
        let qk = queue_key(ns, &task.task_queue);
        self.queue
            .remove((qk.as_str(), task.visible_at_ms, run.0, sched))?;
        Ok(())
    }

    fn get_nexus(&self, run: RunId, sched: u64) -> Result<Option<NexusTask>, StoreError> {
        get_record(&self.nexus, run, sched)
    }

    fn put_nexus(&mut self, run: RunId, sched: u64, task: &NexusTask) -> Result<(), StoreError> {
        self.nexus
            .insert((run.0, sched), history::encode(task).as_slice())?;
        Ok(())
    }

    fn remove_nexus(
        &mut self,
        ns: &Namespace,
        run: RunId,
        sched: u64,
        task: &NexusTask,
    ) -> Result<(), StoreError> {
        self.nexus.remove((run.0, sched))?;
        self.nexus_queue
            .remove((task.visible_at_ms, run.0, sched))?;
        if let Some(t) = &task.operation_token {
            self.tokens.remove((ns.as_str(), t.as_str()))?;
        }
        Ok(())
    }

    /// Decides what the end of attempt `attempt` means; see [`Store::report_activity`].
    #[allow(clippy::too_many_arguments)]
    fn settle_activity(
        &mut self,
        run: RunId,
        sched: EventId,
        mut task: ActivityTask,
        attempt: u32,
        outcome: Result<Payload, Failure>,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        let mut rec = self.get_run(run)?;
        if let Err(f) = &outcome
            && !task.cancel_requested
        {
            let delay = task.retry_policy.delay_before(attempt + 1);
            let retry_at = now_ms.saturating_add(delay);
            let retryable = !matches!(
                f.error_type.as_str(),
                "ScheduleToCloseTimeout" | "ScheduleToStartTimeout"
            ) && task.retry_policy.may_retry(attempt, f)
                && task.close_deadline().is_none_or(|d| retry_at < d);
            if retryable && !rec.status.is_closed() {
                let qk = queue_key(&rec.namespace, &task.task_queue);
                self.queue
                    .remove((qk.as_str(), task.visible_at_ms, run.0, sched.0))?;
                task.attempt = attempt + 1;
                task.leased = false;
                task.last_failure = Some(f.clone());
                task.visible_at_ms = retry_at;
                task.last_heartbeat_ms = None;
                self.queue
                    .insert((qk.as_str(), retry_at, run.0, sched.0), ())?;
                if let Some(s2s) = task.schedule_to_start_timeout_ms {
                    self.deadlines.insert(
                        (retry_at.saturating_add(s2s), run.0, sched.0),
                        DEADLINE_ACTIVITY_START,
                    )?;
                    fx.timers = true;
                }
                self.put_task(run, sched.0, &task)?;
                fx.activities = true;
                return Ok(());
            }
        }
        self.remove_task(&rec.namespace.clone(), run, sched.0, &task)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        self.append(
            run,
            &mut rec,
            now_ms,
            EventKind::ActivityTaskStarted {
                scheduled_event_id: sched,
                attempt,
            },
        )?;
        let kind = match outcome {
            Ok(result) => EventKind::ActivityTaskCompleted {
                scheduled_event_id: sched,
                result,
            },
            Err(_) if task.cancel_requested => EventKind::ActivityTaskCanceled {
                scheduled_event_id: sched,
            },
            Err(failure) if is_timeout(&failure.error_type) => EventKind::ActivityTaskTimedOut {
                scheduled_event_id: sched,
                failure,
            },
            Err(failure) => EventKind::ActivityTaskFailed {
                scheduled_event_id: sched,
                failure,
            },
        };
        self.append(run, &mut rec, now_ms, kind)?;
        fx.workflow_task |= self.schedule_wft(run, &mut rec, now_ms)?;
        self.put_run(run, &rec)
    }

    /// Ends an activity as timed out by a deadline no attempt can fix.
    fn time_out_activity(
        &mut self,
        run: RunId,
        sched: EventId,
        task: &ActivityTask,
        failure: Failure,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        let mut rec = self.get_run(run)?;
        self.remove_task(&rec.namespace.clone(), run, sched.0, task)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        if task.leased {
            self.append(
                run,
                &mut rec,
                now_ms,
                EventKind::ActivityTaskStarted {
                    scheduled_event_id: sched,
                    attempt: task.attempt,
                },
            )?;
            fx.cancel_activities.push((run, sched));
        }
        self.append(
            run,
            &mut rec,
            now_ms,
            EventKind::ActivityTaskTimedOut {
                scheduled_event_id: sched,
                failure,
            },
        )?;
        fx.workflow_task |= self.schedule_wft(run, &mut rec, now_ms)?;
        self.put_run(run, &rec)
    }

    /// Records the final outcome of a Nexus operation in its caller's run.
    #[allow(clippy::too_many_arguments)]
    fn finish_nexus(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        sched: EventId,
        task: &NexusTask,
        outcome: NexusOutcome,
        now_ms: u64,
        fx: &mut Effects,
    ) -> Result<(), StoreError> {
        self.remove_nexus(&rec.namespace.clone(), run, sched.0, task)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        let kind = match outcome {
            NexusOutcome::Completed(result) => EventKind::NexusOperationCompleted {
                scheduled_event_id: sched,
                result,
            },
            NexusOutcome::Failed(failure) => EventKind::NexusOperationFailed {
                scheduled_event_id: sched,
                failure,
            },
            NexusOutcome::Canceled => EventKind::NexusOperationCanceled {
                scheduled_event_id: sched,
            },
        };
        self.append(run, rec, now_ms, kind)?;
        fx.workflow_task |= self.schedule_wft(run, rec, now_ms)?;
        Ok(())
    }

    /// Closes a run: drops its pending Workflow Task, activities and Nexus operations, applies
    /// the parent close policy to its open children and, unless `continued` (a newer run of
    /// the execution carries on), reports the outcome to its parent and to the Nexus operation
    /// that started it.
    fn close(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        status: RunStatus,
        outcome: CloseOutcome,
        now_ms: u64,
        continued: bool,
    ) -> Result<(), StoreError> {
        rec.status = status;
        rec.close_ms = Some(now_ms);
        if let Some(p) = rec.workflow_task.take() {
            self.wft.remove((p.due_ms, run.0))?;
        }
        if let Some(t) = rec.options.run_timeout_ms {
            self.deadlines
                .remove((rec.start_ms.saturating_add(t), run.0, 0))?;
        }
        if let Some(d) = rec.execution_deadline_ms {
            self.deadlines.remove((d, run.0, 1))?;
        }
        let pending: Records<ActivityTask> =
            decode_records(&self.tasks, (run.0, 0)..=(run.0, u64::MAX))?;
        let ns = rec.namespace.clone();
        for ((_, sched), task) in pending {
            self.remove_task(&ns, run, sched, &task)?;
        }
        let pending: Records<NexusTask> =
            decode_records(&self.nexus, (run.0, 0)..=(run.0, u64::MAX))?;
        for ((_, sched), task) in pending {
            self.remove_nexus(&ns, run, sched, &task)?;
        }
        for child in std::mem::take(&mut rec.children) {
            self.apply_parent_close_policy(&child, now_ms)?;
        }
        if continued {
            return Ok(());
        }
        if let Some(cb) = rec.nexus_callback {
            let mut caller = self.get_run(cb.run)?;
            if let Some(task) = self.get_nexus(cb.run, cb.scheduled_event_id.0)? {
                let outcome = match &outcome {
                    CloseOutcome::Completed(p) => NexusOutcome::Completed(p.clone()),
                    CloseOutcome::Failed(f) => NexusOutcome::Failed(f.clone()),
                    CloseOutcome::Canceled => NexusOutcome::Canceled,
                    CloseOutcome::Terminated(reason) => {
                        NexusOutcome::Failed(Failure::new("Terminated", reason.clone()))
                    }
                    CloseOutcome::TimedOut => NexusOutcome::Failed(Failure::new(
                        "TimedOut",
                        "the workflow backing the operation timed out",
                    )),
                };
                let mut fx = Effects::default();
                self.finish_nexus(
                    cb.run,
                    &mut caller,
                    cb.scheduled_event_id,
                    &task,
                    outcome,
                    now_ms,
                    &mut fx,
                )?;
                self.put_run(cb.run, &caller)?;
            }
        }
        if let Some(link) = rec.parent.clone() {
            let mut parent = self.get_run(link.run)?;
            if !parent.status.is_closed() {
                let initiated_event_id = link.initiated_event_id;
                parent
                    .children
                    .retain(|c| c.initiated_event_id != initiated_event_id);
                let kind = match outcome {
                    CloseOutcome::Completed(result) => EventKind::ChildWorkflowExecutionCompleted {
                        initiated_event_id,
                        result,
                    },
                    CloseOutcome::Failed(failure) => EventKind::ChildWorkflowExecutionFailed {
                        initiated_event_id,
                        failure,
                    },
                    CloseOutcome::Canceled => {
                        EventKind::ChildWorkflowExecutionCanceled { initiated_event_id }
                    }
                    CloseOutcome::Terminated(_) => {
                        EventKind::ChildWorkflowExecutionTerminated { initiated_event_id }
                    }
                    CloseOutcome::TimedOut => {
                        EventKind::ChildWorkflowExecutionTimedOut { initiated_event_id }
                    }
                };
                self.append(link.run, &mut parent, now_ms, kind)?;
                self.schedule_wft(link.run, &mut parent, now_ms)?;
                self.put_run(link.run, &parent)?;
            }
        }
        Ok(())
    }

    /// Acts on an open child of a closing parent as its parent close policy says.
    fn apply_parent_close_policy(
        &mut self,
        child: &ChildLink,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut rec = self.get_run(child.run)?;
        if rec.status.is_closed() {
            return Ok(());
        }
        let reason = match child.policy {
            ParentClosePolicy::Abandon => return Ok(()),
            ParentClosePolicy::RequestCancel => {
                match self.request_cancel(child.run, &mut rec, "its parent closed", now_ms) {
                    Ok(()) => None,
                    // A child at its history limit cannot record the request: it is ended
                    // here, not in a transaction of its own, which would tell the parent
                    // that is closing in this one.
                    Err(StoreError::HistoryLimit(o)) if o.run == child.run => {
                        Some(o.termination_reason())
                    }
                    Err(e) => return Err(e),
                }
            }
            ParentClosePolicy::Terminate => {
                Some("its parent closed (parent close policy Terminate)".to_string())
            }
        };
        if let Some(reason) = reason {
            // The parent is closing: it is not told.
            rec.parent = None;
            self.append(
                child.run,
                &mut rec,
                now_ms,
                EventKind::WorkflowExecutionTerminated {
                    reason: reason.clone(),
                },
            )?;
            self.close(
                child.run,
                &mut rec,
                RunStatus::Terminated,
                CloseOutcome::Terminated(reason),
                now_ms,
                false,
            )?;
        }
        self.put_run(child.run, &rec)
    }

    /// Creates a run as `n` says: WorkflowExecutionStarted, the signal of signal-with-start,
    /// WorkflowTaskScheduled due at `n.first_task_due_ms`, and its timeout deadlines. The
    /// workflow id points to the new run. Quotas are the caller's to check; the history
    /// limits are checked here, before anything is written: first events past them fail with
    /// a [`HistoryOverflow`] marked `first_events`, and leave no trace.
    fn create_run(&mut self, n: NewRun) -> Result<RunId, StoreError> {
        let run = RunId::random();
        let mut first = vec![EventKind::WorkflowExecutionStarted {
            workflow_type: n.workflow_type.clone(),
            input: n.input,
            random_seed: n.random_seed,
        }];
        if let Some((signal_name, input)) = n.signal {
            first.push(EventKind::WorkflowExecutionSignaled { signal_name, input });
        }
        first.push(EventKind::WorkflowTaskScheduled { attempt: 1 });
        let encoded: Vec<Vec<u8>> = first
            .into_iter()
            .zip(1u64..)
            .map(|(kind, id)| {
                history::encode(&Event {
                    id: EventId(id),
                    time_ms: n.now_ms,
                    kind,
                })
            })
            .collect();
        let bytes: u64 = encoded.iter().map(|b| b.len() as u64).sum();
        if let Some(mut o) = overflow_of(
            self.limits.of(&n.namespace),
            run,
            &n.workflow_id,
            "the first events of a new run",
            encoded.len() as u64,
            bytes,
        ) {
            o.first_events = true;
            return Err(StoreError::HistoryLimit(o));
        }
        self.workflows
            .insert((n.namespace.as_str(), n.workflow_id.0.as_str()), run.0)?;
        let mut rec = RunRecord {
            namespace: n.namespace,
            history_bytes: 0,
            workflow_id: n.workflow_id,
            workflow_type: n.workflow_type,
            status: RunStatus::Running,
            next_event_id: 1,
            start_ms: n.now_ms,
            close_ms: None,
            workflow_task: None,
            nexus_callback: n.nexus_callback,
            parent: n.parent,
            children: Vec::new(),
            previous_run: n.previous_run,
            next_run: None,
            attempt: n.attempt,
            options: n.options,
            execution_deadline_ms: n.execution_deadline_ms,
            cancel_requested: false,
            id_reuse_policy: n.id_reuse_policy,
        };
        for event in &encoded {
            self.history
                .insert((run.0, rec.next_event_id), event.as_slice())?;
            rec.next_event_id += 1;
            rec.history_bytes += event.len() as u64;
        }
        // WorkflowTaskScheduled is the last of them.
        let id = EventId(rec.next_event_id - 1);
        self.wft.insert((n.first_task_due_ms, run.0), ())?;
        rec.workflow_task = Some(PendingWorkflowTask {
            attempt: 1,
            due_ms: n.first_task_due_ms,
            scheduled_event_id: Some(id),
            last_failure: None,
        });
        if let Some(t) = rec.options.run_timeout_ms {
            self.deadlines
                .insert((n.now_ms.saturating_add(t), run.0, 0), DEADLINE_RUN_TIMEOUT)?;
        }
        if let Some(d) = rec.execution_deadline_ms {
            self.deadlines
                .insert((d, run.0, 1), DEADLINE_EXECUTION_TIMEOUT)?;
        }
        self.put_run(run, &rec)?;
        Ok(run)
    }

    /// Starts the run that continues `run` (continue-as-new, or a retry of the execution
    /// after `delay_ms`): same workflow id, type, options, parent and Nexus caller. The caller
    /// closes `run` afterwards with `continued`.
    fn continue_run(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        input: Payload,
        attempt: u32,
        delay_ms: u64,
        now_ms: u64,
    ) -> Result<RunId, StoreError> {
        let next = self
            .create_run(NewRun {
                namespace: rec.namespace.clone(),
                workflow_id: rec.workflow_id.clone(),
                workflow_type: rec.workflow_type.clone(),
                input,
                random_seed: rand::random(),
                options: rec.options.clone(),
                id_reuse_policy: rec.id_reuse_policy,
                attempt,
                previous_run: Some(run),
                parent: rec.parent.clone(),
                nexus_callback: rec.nexus_callback,
                execution_deadline_ms: rec.execution_deadline_ms,
                signal: None,
                first_task_due_ms: now_ms.saturating_add(delay_ms),
                now_ms,
            })
            .map_err(|e| match e {
                // The execution cannot go on within its limits: this run is the one to end.
                StoreError::HistoryLimit(o) if o.first_events => {
                    StoreError::HistoryLimit(HistoryOverflow {
                        run,
                        recording: "the first events of the run that would continue it",
                        first_events: false,
                        ..o
                    })
                }
                e => e,
            })?;
        rec.next_run = Some(next);
        if let Some(link) = &rec.parent {
            let mut parent = self.get_run(link.run)?;
            for c in &mut parent.children {
                if c.initiated_event_id == link.initiated_event_id {
                    c.run = next;
                }
            }
            self.put_run(link.run, &parent)?;
        }
        Ok(next)
    }

    /// The delay before the execution's next attempt after `failure`, if its retry policy
    /// allows one that starts before the execution timeout.
    fn retry_delay(&self, rec: &RunRecord, failure: &Failure, now_ms: u64) -> Option<u64> {
        let policy = rec.options.retry_policy.as_ref()?;
        if !policy.may_retry(rec.attempt, failure) {
            return None;
        }
        let delay = policy.delay_before(rec.attempt + 1);
        match rec.execution_deadline_ms {
            Some(d) if now_ms.saturating_add(delay) >= d => None,
            _ => Some(delay),
        }
    }

    /// The input `run` was started with.
    fn start_input(&self, run: RunId) -> Result<Payload, StoreError> {
        match self.history.get((run.0, 1))? {
            Some(v) => match history::decode_event(v.value())
                .map_err(|source| StoreError::Encoding { run, source })?
                .kind
            {
                EventKind::WorkflowExecutionStarted { input, .. } => Ok(input),
                _ => Ok(Payload::default()),
            },
            None => Ok(Payload::default()),
        }
    }

    /// Closes `run` after `failure` (a failed or timed-out run): retried as a new run when
    /// the execution's retry policy allows, otherwise closed for good.
    fn close_or_retry(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        status: RunStatus,
        failure: Failure,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let outcome = if status == RunStatus::TimedOut {
            CloseOutcome::TimedOut
        } else {
            CloseOutcome::Failed(failure.clone())
        };
        match self.retry_delay(rec, &failure, now_ms) {
            Some(delay) => {
                let input = self.start_input(run)?;
                let attempt = rec.attempt + 1;
                self.continue_run(run, rec, input, attempt, delay, now_ms)?;
                self.close(run, rec, status, outcome, now_ms, true)
            }
            None => self.close(run, rec, status, outcome, now_ms, false),
        }
    }

    /// The open run that `workflow_id` (and `run_id`, when given) names in `namespace`, if
    /// any: a run of another namespace, a closed run or an unknown id is none.
    fn open_run_of(
        &self,
        namespace: &Namespace,
        workflow_id: &WorkflowId,
        run_id: Option<&str>,
    ) -> Result<Option<RunId>, StoreError> {
        let run = match run_id {
            Some(text) => match RunId::parse(text) {
                Some(r) => r,
                None => return Ok(None),
            },
            None => match self
                .workflows
                .get((namespace.as_str(), workflow_id.0.as_str()))?
            {
                Some(v) => RunId(v.value()),
                None => return Ok(None),
            },
        };
        if self.runs.get(run.0)?.is_none() {
            return Ok(None);
        }
        let rec = self.get_run(run)?;
        let same = rec.namespace == *namespace && rec.workflow_id == *workflow_id;
        Ok((same && !rec.status.is_closed()).then_some(run))
    }

    /// True when [`W::signal`] of `name` with `input` fits in `rec`'s history limits.
    fn signal_fits(
        &self,
        run: RunId,
        rec: &RunRecord,
        name: &str,
        input: &Payload,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let event = |id: u64, kind| {
            history::encode(&Event {
                id: EventId(id),
                time_ms: now_ms,
                kind,
            })
        };
        let mut events = 1;
        let mut bytes = event(
            rec.next_event_id,
            EventKind::WorkflowExecutionSignaled {
                signal_name: name.to_string(),
                input: input.clone(),
            },
        )
        .len() as u64;
        if rec.workflow_task.is_none() {
            events += 1;
            bytes += event(
                rec.next_event_id + 1,
                EventKind::WorkflowTaskScheduled { attempt: 1 },
            )
            .len() as u64;
        }
        match self.check_growth(run, rec, "WorkflowExecutionSignaled", events, bytes) {
            Ok(()) => Ok(true),
            Err(StoreError::HistoryLimit(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Records signal `name` and schedules a Workflow Task.
    fn signal(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        name: &str,
        input: Payload,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.append(
            run,
            rec,
            now_ms,
            EventKind::WorkflowExecutionSignaled {
                signal_name: name.to_string(),
                input,
            },
        )?;
        self.schedule_wft(run, rec, now_ms)?;
        Ok(())
    }

    /// Records a cancel request (once) and schedules a Workflow Task.
    fn request_cancel(
        &mut self,
        run: RunId,
        rec: &mut RunRecord,
        reason: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        if rec.cancel_requested {
            return Ok(());
        }
        rec.cancel_requested = true;
        self.append(
            run,
            rec,
            now_ms,
            EventKind::WorkflowExecutionCancelRequested {
                reason: reason.to_string(),
            },
        )?;
        self.schedule_wft(run, rec, now_ms)?;
        Ok(())
    }
}

/// What [`W::create_run`] creates.
struct NewRun {
    namespace: Namespace,
    workflow_id: WorkflowId,
    workflow_type: String,
    input: Payload,
    random_seed: u64,
    options: WorkflowOptions,
    id_reuse_policy: IdReusePolicy,
    attempt: u32,
    previous_run: Option<RunId>,
    parent: Option<ParentLink>,
    nexus_callback: Option<NexusCallback>,
    execution_deadline_ms: Option<u64>,
    signal: Option<(String, Payload)>,
    first_task_due_ms: u64,
    now_ms: u64,
}

/// How a run closed, for its parent or the Nexus operation that started it.
enum CloseOutcome {
    Completed(Payload),
    Failed(Failure),
    Canceled,
    Terminated(String),
    TimedOut,
}

/// The Nexus operation that started a run, to be told when the run closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexusCallback {
    /// The caller's run.
    pub run: RunId,
    /// Its NexusOperationScheduled event.
    pub scheduled_event_id: EventId,
}

/// The request id of the Nexus operation scheduled at `sched` in `run`: the same for every
/// delivery of its start, so handlers can de-duplicate.
pub fn nexus_request_id(run: RunId, sched: EventId) -> String {
    format!("{run}-{}", sched.0)
}

/// A Nexus operation waiting to be started, or started and pending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NexusTask {
    /// Caller workflow id.
    pub workflow_id: WorkflowId,
    /// Endpoint.
    pub endpoint: String,
    /// Service.
    pub service: String,
    /// Operation.
    pub operation: String,
    /// Input.
    pub input: Payload,
    /// Request id of every start delivery.
    pub request_id: String,
    /// Delivery attempt of the current task (start or cancel), from 1.
    pub attempt: u32,
    /// Key of its `nexus_queue` entry.
    pub visible_at_ms: u64,
    /// A delivery is in flight until `visible_at_ms`.
    pub leased: bool,
    /// Token of a started asynchronous operation.
    pub operation_token: Option<String>,
    /// The caller asked to cancel.
    pub cancel_requested: bool,
    /// The handler accepted the cancel.
    pub cancel_delivered: bool,
    /// Failure of the previous delivery.
    pub last_failure: Option<Failure>,
}

/// What a Nexus task delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NexusTaskKind {
    /// Start the operation.
    Start,
    /// Cancel the started operation.
    Cancel,
}

/// A Nexus task handed to the host's Nexus runner.
#[derive(Clone, Debug)]
pub struct LeasedNexus {
    /// Caller run.
    pub run: RunId,
    /// Its namespace.
    pub namespace: Namespace,
    /// NexusOperationScheduled event id.
    pub scheduled_event_id: EventId,
    /// Start or cancel.
    pub kind: NexusTaskKind,
    /// The task.
    pub task: NexusTask,
}

/// The final outcome of a Nexus operation.
#[derive(Clone, Debug, PartialEq)]
pub enum NexusOutcome {
    /// It returned a result.
    Completed(Payload),
    /// It failed.
    Failed(Failure),
    /// It was canceled.
    Canceled,
}

/// What one Nexus task delivery achieved.
#[derive(Clone, Debug, PartialEq)]
pub enum NexusReport {
    /// An asynchronous operation started.
    Started {
        /// Its token.
        operation_token: String,
    },
    /// The operation ended (a synchronous result, or a final error).
    Finished(NexusOutcome),
    /// The handler accepted the cancel request.
    CancelDelivered,
    /// The delivery failed with a retryable error: deliver again at `retry_at_ms`.
    Retry {
        /// The error.
        failure: Failure,
        /// When.
        retry_at_ms: u64,
    },
}

fn get_run(
    runs: &impl ReadableTable<u128, &'static [u8]>,
    run: RunId,
) -> Result<RunRecord, StoreError> {
    let v = runs.get(run.0)?.ok_or_else(|| StoreError::Encoding {
        run,
        source: EncodingError::Corrupt("run record missing".into()),
    })?;
    decode_run(v.value()).map_err(|source| StoreError::Encoding { run, source })
}

fn get_usage(
    usage: &impl ReadableTable<&'static str, (u64, u64)>,
    namespace: &Namespace,
) -> Result<NamespaceUsage, StoreError> {
    Ok(usage
        .get(namespace.as_str())?
        .map(|v| {
            let (open_workflows, stored_bytes) = v.value();
            NamespaceUsage {
                open_workflows,
                stored_bytes,
            }
        })
        .unwrap_or_default())
}

/// Writes `rec` and moves its namespace's usage by the difference to the stored record, so
/// every run update keeps `ns_usage` exact.
fn put_run(
    runs: &mut redb::Table<u128, &[u8]>,
    usage: &mut redb::Table<&str, (u64, u64)>,
    run: RunId,
    rec: &RunRecord,
) -> Result<(), StoreError> {
    let (was_open, old_bytes) = match runs.get(run.0)? {
        Some(v) => {
            let old: RunRecord =
                decode_run(v.value()).map_err(|source| StoreError::Encoding { run, source })?;
            (!old.status.is_closed(), old.history_bytes)
        }
        None => (false, 0),
    };
    runs.insert(run.0, history::encode(rec).as_slice())?;
    let is_open = !rec.status.is_closed();
    if was_open != is_open || old_bytes != rec.history_bytes {
        let mut u = get_usage(usage, &rec.namespace)?;
        u.open_workflows =
            (u.open_workflows + u64::from(is_open)).saturating_sub(u64::from(was_open));
        u.stored_bytes = (u.stored_bytes + rec.history_bytes).saturating_sub(old_bytes);
        usage.insert(rec.namespace.as_str(), (u.open_workflows, u.stored_bytes))?;
    }
    Ok(())
}

/// Schema 1 -> 2: every workflow moves into the default namespace; run records gain their
/// namespace, history size and Nexus callback; activity tasks gain their queue, timeouts and
/// heartbeat state and move to the per-queue index; namespace usage is counted.
fn migrate_v1(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    let default = Namespace::default_namespace();
    {
        let old = tx.open_table(WORKFLOWS_V1)?;
        let mut new = tx.open_table(WORKFLOWS)?;
        for entry in old.iter()? {
            let (k, v) = entry?;
            new.insert((default.as_str(), k.value()), v.value())?;
        }
    }
    tx.delete_table(WORKFLOWS_V1)?;
    {
        let mut runs = tx.open_table(RUNS)?;
        let history_t = tx.open_table(HISTORY)?;
        let mut usage = tx.open_table(NS_USAGE)?;
        let old: Vec<(u128, Vec<u8>)> = runs
            .iter()?
            .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
            .collect::<Result<_, _>>()?;
        for (id, bytes) in old {
            let run = RunId(id);
            let v1: RunRecordV1 =
                history::decode(&bytes).map_err(|source| StoreError::Encoding { run, source })?;
            let mut history_bytes = 0u64;
            for e in history_t.range((id, 0)..=(id, u64::MAX))? {
                history_bytes += e?.1.value().len() as u64;
            }
            let rec: RunRecord = RunRecordV2 {
                namespace: default.clone(),
                history_bytes,
                workflow_id: v1.workflow_id,
                workflow_type: v1.workflow_type,
                status: v1.status,
                next_event_id: v1.next_event_id,
                start_ms: v1.start_ms,
                close_ms: v1.close_ms,
                workflow_task: v1.workflow_task,
                nexus_callback: None,
            }
            .into();
            // Remove first so `put_run` counts the record as new.
            runs.remove(id)?;
            put_run(&mut runs, &mut usage, run, &rec)?;
        }
    }
    {
        let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
        let mut queue = tx.open_table(ACTIVITY_QUEUE)?;
        let old: Vec<((u128, u64), Vec<u8>)> = tasks
            .iter()?
            .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
            .collect::<Result<_, _>>()?;
        let qk = queue_key(&default, history::DEFAULT_TASK_QUEUE);
        for ((run, sched), bytes) in old {
            let v1: ActivityTaskV1 =
                history::decode(&bytes).map_err(|source| StoreError::Encoding {
                    run: RunId(run),
                    source,
                })?;
            let task = ActivityTask {
                workflow_id: v1.workflow_id,
                activity_type: v1.activity_type,
                input: v1.input,
                attempt: v1.attempt,
                start_to_close_timeout_ms: v1.start_to_close_timeout_ms,
                retry_policy: v1.retry_policy,
                visible_at_ms: v1.visible_at_ms,
                leased: v1.leased,
                last_failure: v1.last_failure,
                task_queue: history::DEFAULT_TASK_QUEUE.to_string(),
                scheduled_ms: 0,
                schedule_to_close_timeout_ms: None,
                schedule_to_start_timeout_ms: None,
                heartbeat_timeout_ms: None,
                attempt_started_ms: v1
                    .visible_at_ms
                    .saturating_sub(v1.start_to_close_timeout_ms),
                heartbeat_details: None,
                last_heartbeat_ms: None,
                cancel_requested: false,
            };
            tasks.insert((run, sched), history::encode(&task).as_slice())?;
            queue.insert((qk.as_str(), task.visible_at_ms, run, sched), ())?;
        }
    }
    tx.delete_table(ACTIVITY_QUEUE_V1)?;
    Ok(())
}

fn get_task(
    tasks: &impl ReadableTable<(u128, u64), &'static [u8]>,
    run: RunId,
    sched: u64,
) -> Result<Option<ActivityTask>, StoreError> {
    get_record(tasks, run, sched)
}

/// The record of operation `sched` of `run` in a (run, event id)-keyed table.
fn get_record<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(u128, u64), &'static [u8]>,
    run: RunId,
    sched: u64,
) -> Result<Option<T>, StoreError> {
    match table.get((run.0, sched))? {
        None => Ok(None),
        Some(v) => history::decode(v.value())
            .map(Some)
            .map_err(|source| StoreError::Encoding { run, source }),
    }
}

/// Records of a (run, event id)-keyed table with their keys.
type Records<T> = Vec<((u128, u64), T)>;

/// Every record of a (run, event id)-keyed table in `range`, decoded.
fn decode_records<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(u128, u64), &'static [u8]>,
    range: impl std::ops::RangeBounds<(u128, u64)>,
) -> Result<Records<T>, StoreError> {
    table
        .range(range)?
        .map(|e| {
            let (k, v) = e?;
            let record = history::decode(v.value()).map_err(|source| StoreError::Encoding {
                run: RunId(k.value().0),
                source,
            })?;
            Ok((k.value(), record))
        })
        .collect()
}

/// Makes every leased activity and Nexus task visible now: its worker belonged to a process
/// that no longer holds the database. A leased activity stays marked leased, so handing it
/// out again counts the lost attempt.
fn release_leases(
    tx: &redb::WriteTransaction,
    limits: &StoreLimits,
    now_ms: u64,
) -> Result<(), StoreError> {
    let mut w = W::open(tx, limits)?;
    let tasks: Records<ActivityTask> = decode_records(&w.tasks, ..)?;
    for ((run, sched), mut task) in tasks.into_iter().filter(|(_, t)| t.leased) {
        let ns = w.get_run(RunId(run))?.namespace;
        let qk = queue_key(&ns, &task.task_queue);
        w.queue
            .remove((qk.as_str(), task.visible_at_ms, run, sched))?;
        task.visible_at_ms = now_ms;
        w.queue.insert((qk.as_str(), now_ms, run, sched), ())?;
        w.put_task(RunId(run), sched, &task)?;
    }
    let tasks: Records<NexusTask> = decode_records(&w.nexus, ..)?;
    for ((run, sched), mut task) in tasks.into_iter().filter(|(_, t)| t.leased) {
        w.nexus_queue.remove((task.visible_at_ms, run, sched))?;
        task.visible_at_ms = now_ms;
        w.nexus_queue.insert((now_ms, run, sched), ())?;
        w.put_nexus(RunId(run), sched, &task)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout release 0.1 (format version 2) wrote run records in.
    #[derive(Serialize)]
    struct WrittenByV2 {
        namespace: Namespace,
        history_bytes: u64,
        workflow_id: WorkflowId,
        workflow_type: String,
        status: RunStatus,
        next_event_id: u64,
        start_ms: u64,
        close_ms: Option<u64>,
        workflow_task: Option<PendingWorkflowTask>,
        nexus_callback: Option<NexusCallback>,
    }

    #[test]
    fn run_records_of_format_2_decode_with_defaults() {
        let old = WrittenByV2 {
            namespace: Namespace::new("acme").unwrap(),
            history_bytes: 120,
            workflow_id: WorkflowId::from("o-1"),
            workflow_type: "order".into(),
            status: RunStatus::Completed,
            next_event_id: 9,
            start_ms: 5,
            close_ms: Some(7),
            workflow_task: None,
            nexus_callback: None,
        };
        let mut bytes = vec![2u8];
        bytes.extend(postcard::to_stdvec(&old).unwrap());
        let rec = decode_run(&bytes).unwrap();
        assert_eq!(rec.workflow_id, WorkflowId::from("o-1"));
        assert_eq!(
            (rec.status, rec.next_event_id, rec.close_ms),
            (RunStatus::Completed, 9, Some(7))
        );
        assert_eq!(
            (rec.attempt, rec.parent.clone(), rec.children.len()),
            (1, None, 0)
        );
        // Written again, it carries the current version and decodes to the same record.
        assert_eq!(decode_run(&history::encode(&rec)).unwrap(), rec);
    }
}

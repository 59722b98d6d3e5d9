//! The records the store keeps besides the history (runs, activity and Nexus tasks,
//! deadline kinds) and the values its operations take and return. Plain data: no storage, no
//! rules. How a backend encodes them, and their older formats, is the backend's.

use super::*;

/// The activity queue key of `queue` in `namespace`.
pub fn queue_key(namespace: &Namespace, queue: &str) -> String {
    format!("{namespace}/{queue}")
}

/// Status of a run.
///
/// ```
/// use weft_engine::RunStatus;
/// assert!(!RunStatus::Running.is_closed());
/// assert!(RunStatus::ContinuedAsNew.is_closed()); // a newer run carries on
/// ```
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
    /// The digest of the workflow component the new run is pinned to (see
    /// [`crate::Store::pin_component`]); `None` leaves it to be pinned by its first task.
    pub component: Option<String>,
}

/// What a namespace holds, as counted in `ns_usage`.
///
/// ```
/// use weft_engine::NamespaceUsage;
/// // As `weft`'s `Client::usage` reports it, checked against a quota of 1,000 open workflows:
/// let usage = NamespaceUsage { open_workflows: 950, stored_bytes: 3 << 20 };
/// assert_eq!(1_000 - usage.open_workflows, 50); // starts left
/// assert_eq!(NamespaceUsage::default().stored_bytes, 0);
/// ```
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
pub(super) struct StoreLimits {
    /// For namespaces not listed (not configured on this host).
    pub(super) default: NamespaceLimits,
    pub(super) namespaces: HashMap<Namespace, NamespaceLimits>,
}

impl StoreLimits {
    pub(super) fn of(&self, namespace: &Namespace) -> NamespaceLimits {
        self.namespaces
            .get(namespace)
            .copied()
            .unwrap_or(self.default)
    }
}

/// What a deadline ends when it passes: timeouts that fire without a worker. Stored as one
/// byte; the mapping is fixed, since deadlines outlive releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineKind {
    /// An activity's schedule-to-close timeout.
    ActivityClose,
    /// An activity attempt's schedule-to-start timeout.
    ActivityStart,
    /// A Nexus operation's schedule-to-close timeout.
    NexusClose,
    /// A run's run timeout (kept at event id 0).
    RunTimeout,
    /// The execution timeout, kept on each run of the execution (event id 1).
    ExecutionTimeout,
}

impl DeadlineKind {
    /// The stored byte.
    pub fn to_u8(self) -> u8 {
        match self {
            DeadlineKind::ActivityClose => 1,
            DeadlineKind::ActivityStart => 2,
            DeadlineKind::NexusClose => 3,
            DeadlineKind::RunTimeout => 4,
            DeadlineKind::ExecutionTimeout => 5,
        }
    }

    /// The kind of a stored byte; `None` for a byte this release does not know.
    pub fn from_u8(b: u8) -> Option<DeadlineKind> {
        Some(match b {
            1 => DeadlineKind::ActivityClose,
            2 => DeadlineKind::ActivityStart,
            3 => DeadlineKind::NexusClose,
            4 => DeadlineKind::RunTimeout,
            5 => DeadlineKind::ExecutionTimeout,
            _ => return None,
        })
    }
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
    pub(super) fn lease_expiry(&self) -> (u64, &'static str) {
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
    pub(super) fn close_deadline(&self) -> Option<u64> {
        self.schedule_to_close_timeout_ms
            .map(|t| self.scheduled_ms.saturating_add(t))
    }
}

/// An activity task handed to a worker.
#[derive(Clone, Debug, PartialEq)]
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
    /// Activities the host runs at once, by queue key (see [`queue_key`]): up to this many of
    /// the task's new activities of each queue are leased in the same commit and returned in
    /// [`Effects::eager`] (eager activity execution: no lease of their own). Empty: none.
    pub eager_slots: HashMap<String, usize>,
}

/// What a committed task or event changed, for the host's wake-ups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effects {
    /// Runs that closed.
    pub closed: Vec<RunId>,
    /// Activity tasks were queued for a queue worker to lease (not those the commit leased
    /// itself: [`Effects::eager`]).
    pub activities: bool,
    /// Timers were started.
    pub timers: bool,
    /// A Workflow Task was scheduled.
    pub workflow_task: bool,
    /// Running activity attempts whose cancellation was requested.
    pub cancel_activities: Vec<(RunId, EventId)>,
    /// Activities leased by the commit itself for the host to run now (Workflow Task
    /// completions with [`TaskCompletion::eager_slots`]).
    pub eager: Vec<LeasedActivity>,
    /// Nexus tasks were queued.
    pub nexus: bool,
    /// The run's `next_event_id` after the commit (Workflow Task completions).
    pub next_event_id: u64,
    /// Workflow Task completions: the task would have taken the history past its limit, so
    /// nothing of it was recorded and the run was terminated for this reason.
    pub terminated: Option<String>,
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
///
/// ```
/// use weft_core::history::{Failure, Payload};
/// use weft_engine::NexusOutcome;
/// // What a handler's completion reports (`weft`'s `Client::complete_nexus_operation`):
/// let charged = NexusOutcome::Completed(Payload(br#"{"charge_id":"ch-42"}"#.to_vec()));
/// let declined = NexusOutcome::Failed(Failure::new("CardDeclined", "insufficient funds"));
/// assert_ne!(charged, declined);
/// if let NexusOutcome::Completed(result) = &charged {
///     assert_eq!(result.to_json()["charge_id"], "ch-42");
/// }
/// ```
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

/// One activity task queue as [`crate::Store::activity_queues`] counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStats {
    /// The queue's key (`<namespace>/<task queue>`, see [`crate::queue_key`]).
    pub queue_key: String,
    /// Tasks in it: waiting to be leased (or retried), and leased (until their lease ends).
    pub depth: u64,
    /// When its first entry is due, ms since the epoch: waiting since then if in the past.
    pub first_due_ms: u64,
}

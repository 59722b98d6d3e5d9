//! The redb database: tables, schema version and every transaction that changes durable state.
//!
//! The history table is the truth; the run, task and timer tables are projections kept in step
//! with it inside the same write transaction. Each public method that changes state is one
//! write transaction and names the tables it touches. This module does not run guests or
//! activities and makes no timing decisions: callers pass `now`.
//!
//! Tables:
//! - `meta`: schema version.
//! - `ns_workflows`: (namespace, workflow id) -> current run id.
//! - `ns_usage`: namespace -> (open runs, stored history bytes), kept by every run update.
//! - `runs`: run id -> [`RunRecord`].
//! - `history`: (run id, event id) -> [`Event`].
//! - `workflow_tasks`: (due ms, run id) -> (): runs with a Workflow Task to process.
//! - `activity_tasks`: (run id, scheduled event id) -> [`ActivityTask`].
//! - `activity_queue`: (visible at ms, run id, scheduled event id) -> (): when each activity
//!   task may next be handed out (first attempt, retry, or lease expiry).
//! - `timers`: (fire at ms, run id, started event id) -> ().

use crate::history::{
    self, EncodingError, Event, EventKind, Failure, Payload, RetryPolicy, WorkflowTaskFailedCause,
};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Schema version of the tables written by this release. Version 1 (no namespaces) is
/// migrated when opened for writing.
pub const SCHEMA_VERSION: u64 = 2;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Schema 1 only: workflow id -> run id. Migrated into `ns_workflows`.
const WORKFLOWS_V1: TableDefinition<&str, u128> = TableDefinition::new("workflows");
const WORKFLOWS: TableDefinition<(&str, &str), u128> = TableDefinition::new("ns_workflows");
const NS_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("ns_usage");
const RUNS: TableDefinition<u128, &[u8]> = TableDefinition::new("runs");
const HISTORY: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("history");
const WORKFLOW_TASKS: TableDefinition<(u64, u128), ()> = TableDefinition::new("workflow_tasks");
const ACTIVITY_TASKS: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("activity_tasks");
const ACTIVITY_QUEUE: TableDefinition<(u64, u128, u64), ()> =
    TableDefinition::new("activity_queue");
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
    /// The database needs crash recovery, which only a writer can run.
    #[error(
        "database {0} was not closed cleanly and needs recovery; start the host on it (or run any `weft` command while no host is running) and try again"
    )]
    NeedsRecovery(PathBuf),
    /// No workflow with this id.
    #[error("no workflow with id {0}")]
    UnknownWorkflow(WorkflowId),
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
#[derive(Clone, Copy, Debug)]
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
    /// Key of its `activity_queue` entry.
    pub visible_at_ms: u64,
    /// A worker holds the task until `visible_at_ms` (the lease expiry).
    pub leased: bool,
    /// Failure of the previous attempt.
    pub last_failure: Option<Failure>,
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

/// A command the workflow issued during a task, in issue order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Schedule an activity.
    ScheduleActivity {
        /// Type.
        activity_type: String,
        /// Input.
        input: Payload,
        /// Lease per attempt.
        start_to_close_timeout_ms: u64,
        /// Retry policy.
        retry_policy: RetryPolicy,
    },
    /// Start a timer.
    StartTimer {
        /// Duration.
        duration_ms: u64,
    },
    /// Complete the run.
    CompleteWorkflow {
        /// Result.
        result: Payload,
    },
    /// Fail the run.
    FailWorkflow {
        /// Failure.
        failure: Failure,
    },
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
}

/// Handle to an open weft database file.
pub struct Store {
    db: redb::Database,
    path: PathBuf,
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
        let path = path.as_ref();
        let existed = path.exists()
            && std::fs::metadata(path)
                .map(|m| m.len() > 0)
                .unwrap_or(false);
        let db = if existed {
            builder().open(path)
        } else {
            builder().create(path)
        }
        .map_err(|e| open_error(path, e))?;
        let store = Store {
            db,
            path: path.to_path_buf(),
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
            tx.open_table(HISTORY)?;
            tx.open_table(WORKFLOWS)?;
            tx.open_table(NS_USAGE)?;
            tx.open_table(WORKFLOW_TASKS)?;
            tx.open_table(TIMERS)?;
            release_leases(&tx, now_ms)?;
        }
        tx.commit()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a run of `workflow_type` for `id` with `input` and schedules its first Workflow
    /// Task. Writes WorkflowExecutionStarted and WorkflowTaskScheduled.
    ///
    /// A closed workflow with the same id may be started again (a new run); a running one
    /// fails with [`StoreError::AlreadyRunning`].
    /// Tables: workflows, runs, history, workflow_tasks.
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
    ) -> Result<RunId, StoreError> {
        let tx = self.db.begin_write()?;
        let run = RunId::random();
        {
            let mut workflows = tx.open_table(WORKFLOWS)?;
            let mut runs = tx.open_table(RUNS)?;
            let mut usage_t = tx.open_table(NS_USAGE)?;
            let key = (namespace.as_str(), id.0.as_str());
            if let Some(existing) = workflows.get(key)?.map(|v| RunId(v.value())) {
                let rec = get_run(&runs, existing)?;
                if !rec.status.is_closed() {
                    return Err(StoreError::AlreadyRunning(id.clone(), existing));
                }
            }
            let usage = get_usage(&usage_t, namespace)?;
            if usage.open_workflows >= quota.max_open_workflows {
                return Err(StoreError::QuotaExceeded {
                    namespace: namespace.clone(),
                    what: "open workflows",
                    limit: quota.max_open_workflows,
                });
            }
            if usage.stored_bytes >= quota.max_stored_bytes {
                return Err(StoreError::QuotaExceeded {
                    namespace: namespace.clone(),
                    what: "stored history bytes",
                    limit: quota.max_stored_bytes,
                });
            }
            workflows.insert(key, run.0)?;
            let mut rec = RunRecord {
                namespace: namespace.clone(),
                history_bytes: 0,
                workflow_id: id.clone(),
                workflow_type: workflow_type.to_string(),
                status: RunStatus::Running,
                next_event_id: 1,
                start_ms: now_ms,
                close_ms: None,
                workflow_task: None,
            };
            let mut history = tx.open_table(HISTORY)?;
            append(
                &mut history,
                run,
                &mut rec,
                now_ms,
                EventKind::WorkflowExecutionStarted {
                    workflow_type: workflow_type.to_string(),
                    input,
                    random_seed,
                },
            )?;
            let mut wft = tx.open_table(WORKFLOW_TASKS)?;
            schedule_workflow_task(&mut history, &mut wft, run, &mut rec, now_ms)?;
            put_run(&mut runs, &mut usage_t, run, &rec)?;
        }
        tx.commit()?;
        Ok(run)
    }

    /// What namespace `namespace` holds.
    pub fn usage(&self, namespace: &Namespace) -> Result<NamespaceUsage, StoreError> {
        let tx = self.db.begin_read()?;
        get_usage(&tx.open_table(NS_USAGE)?, namespace)
    }

    /// Closes `run` with WorkflowExecutionTerminated without running workflow code: the host
    /// ends it (for example, its history reached the limit). Pending activities and timers are
    /// dropped. Returns false if the run was already closed.
    /// Tables: runs, history, workflow_tasks, activity_tasks, activity_queue, ns_usage.
    pub fn terminate(&self, run: RunId, reason: &str, now_ms: u64) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut runs = tx.open_table(RUNS)?;
            let mut rec = get_run(&runs, run)?;
            if rec.status.is_closed() {
                return Ok(false);
            }
            if let Some(p) = rec.workflow_task.take() {
                tx.open_table(WORKFLOW_TASKS)?.remove((p.due_ms, run.0))?;
            }
            let mut history = tx.open_table(HISTORY)?;
            append(
                &mut history,
                run,
                &mut rec,
                now_ms,
                EventKind::WorkflowExecutionTerminated {
                    reason: reason.to_string(),
                },
            )?;
            let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
            let mut queue = tx.open_table(ACTIVITY_QUEUE)?;
            close(
                &mut rec,
                &mut tasks,
                &mut queue,
                run,
                RunStatus::Terminated,
                now_ms,
            )?;
            let mut usage = tx.open_table(NS_USAGE)?;
            put_run(&mut runs, &mut usage, run, &rec)?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Runs whose Workflow Task is due at `now_ms`, oldest first, at most `limit`, with their
    /// namespaces.
    pub fn due_workflow_tasks(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<(RunId, Namespace)>, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(WORKFLOW_TASKS)?;
        let runs = tx.open_table(RUNS)?;
        let mut out = Vec::new();
        for entry in t.range((0, 0)..=(now_ms, u128::MAX))? {
            let (k, _) = entry?;
            let run = RunId(k.value().1);
            out.push((run, get_run(&runs, run)?.namespace));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Earliest due time of a Workflow Task, an activity task and a timer, in that order.
    pub fn next_due(&self) -> Result<[Option<u64>; 3], StoreError> {
        let tx = self.db.begin_read()?;
        let a = tx
            .open_table(WORKFLOW_TASKS)?
            .first()?
            .map(|(k, _)| k.value().0);
        let b = tx
            .open_table(ACTIVITY_QUEUE)?
            .first()?
            .map(|(k, _)| k.value().0);
        let c = tx.open_table(TIMERS)?.first()?.map(|(k, _)| k.value().0);
        Ok([a, b, c])
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
                history::decode::<Event>(v.value())
                    .map_err(|source| StoreError::Encoding { run, source })?,
            );
        }
        Ok((rec, events))
    }

    /// Commits a completed Workflow Task: WorkflowTaskScheduled (retried attempts only),
    /// WorkflowTaskStarted, WorkflowTaskCompleted and one event per command; queues the new
    /// activity tasks and timers; closes the run on a complete or fail command.
    ///
    /// Fails with [`StoreError::Conflict`] when the history grew since the task loaded it; the
    /// caller must drop its result and run the task again.
    /// Tables: runs, history, workflow_tasks, activity_tasks, activity_queue, timers.
    pub fn complete_workflow_task(
        &self,
        c: TaskCompletion,
        now_ms: u64,
    ) -> Result<Effects, StoreError> {
        let tx = self.db.begin_write()?;
        let mut fx = Effects::default();
        {
            let mut runs = tx.open_table(RUNS)?;
            let mut rec = get_run(&runs, c.run)?;
            if rec.next_event_id != c.expected_next_event_id {
                return Err(StoreError::Conflict(
                    c.run,
                    c.expected_next_event_id,
                    rec.next_event_id,
                ));
            }
            let mut history = tx.open_table(HISTORY)?;
            let mut wft = tx.open_table(WORKFLOW_TASKS)?;
            let pending = rec.workflow_task.take();
            if let Some(p) = &pending {
                wft.remove((p.due_ms, c.run.0))?;
            }
            let scheduled = match pending.and_then(|p| p.scheduled_event_id) {
                Some(id) => id,
                None => append(
                    &mut history,
                    c.run,
                    &mut rec,
                    c.started_ms,
                    EventKind::WorkflowTaskScheduled { attempt: c.attempt },
                )?,
            };
            let started = append(
                &mut history,
                c.run,
                &mut rec,
                c.started_ms,
                EventKind::WorkflowTaskStarted {
                    scheduled_event_id: scheduled,
                },
            )?;
            append(
                &mut history,
                c.run,
                &mut rec,
                now_ms,
                EventKind::WorkflowTaskCompleted {
                    started_event_id: started,
                },
            )?;
            let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
            let mut queue = tx.open_table(ACTIVITY_QUEUE)?;
            let mut timers = tx.open_table(TIMERS)?;
            for cmd in c.commands {
                match cmd {
                    Command::ScheduleActivity {
                        activity_type,
                        input,
                        start_to_close_timeout_ms,
                        retry_policy,
                    } => {
                        let id = append(
                            &mut history,
                            c.run,
                            &mut rec,
                            now_ms,
                            EventKind::ActivityTaskScheduled {
                                activity_type: activity_type.clone(),
                                input: input.clone(),
                                start_to_close_timeout_ms,
                                retry_policy: retry_policy.clone(),
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
                        };
                        tasks.insert((c.run.0, id.0), history::encode(&task).as_slice())?;
                        queue.insert((now_ms, c.run.0, id.0), ())?;
                        fx.activities = true;
                    }
                    Command::StartTimer { duration_ms } => {
                        let fire_at_ms = c.started_ms.saturating_add(duration_ms);
                        let id = append(
                            &mut history,
                            c.run,
                            &mut rec,
                            now_ms,
                            EventKind::TimerStarted {
                                duration_ms,
                                fire_at_ms,
                            },
                        )?;
                        timers.insert((fire_at_ms, c.run.0, id.0), ())?;
                        fx.timers = true;
                    }
                    Command::CompleteWorkflow { result } => {
                        append(
                            &mut history,
                            c.run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionCompleted { result },
                        )?;
                        close(
                            &mut rec,
                            &mut tasks,
                            &mut queue,
                            c.run,
                            RunStatus::Completed,
                            now_ms,
                        )?;
                        fx.closed = true;
                    }
                    Command::FailWorkflow { failure } => {
                        append(
                            &mut history,
                            c.run,
                            &mut rec,
                            now_ms,
                            EventKind::WorkflowExecutionFailed { failure },
                        )?;
                        close(
                            &mut rec,
                            &mut tasks,
                            &mut queue,
                            c.run,
                            RunStatus::Failed,
                            now_ms,
                        )?;
                        fx.closed = true;
                    }
                }
            }
            put_run(&mut runs, &mut tx.open_table(NS_USAGE)?, c.run, &rec)?;
        }
        tx.commit()?;
        Ok(fx)
    }

    /// Records a failed Workflow Task and schedules the next attempt at `retry_at_ms`.
    ///
    /// The first failure of a series writes WorkflowTaskStarted and WorkflowTaskFailed; later
    /// attempts are transient, as in Temporal, and only update the run record. The run stays
    /// open. Tables: runs, history, workflow_tasks.
    pub fn fail_workflow_task(
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
            let mut runs = tx.open_table(RUNS)?;
            let mut rec = get_run(&runs, run)?;
            let Some(mut pending) = rec.workflow_task.take() else {
                return Ok(());
            };
            let mut wft = tx.open_table(WORKFLOW_TASKS)?;
            wft.remove((pending.due_ms, run.0))?;
            if let (1, Some(scheduled)) = (attempt, pending.scheduled_event_id) {
                let mut history = tx.open_table(HISTORY)?;
                let started = append(
                    &mut history,
                    run,
                    &mut rec,
                    started_ms,
                    EventKind::WorkflowTaskStarted {
                        scheduled_event_id: scheduled,
                    },
                )?;
                append(
                    &mut history,
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
            wft.insert((retry_at_ms, run.0), ())?;
            rec.workflow_task = Some(pending);
            put_run(&mut runs, &mut tx.open_table(NS_USAGE)?, run, &rec)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Hands out up to `limit` activity tasks visible at `now_ms` whose type is accepted by
    /// `accept`, leasing each until `now + start_to_close`.
    /// Tables: activity_tasks, activity_queue.
    pub fn lease_activities(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<LeasedActivity>, StoreError> {
        let tx = self.db.begin_write()?;
        let mut out = Vec::new();
        {
            let mut queue = tx.open_table(ACTIVITY_QUEUE)?;
            let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
            let runs = tx.open_table(RUNS)?;
            let due: Vec<(u64, u128, u64)> = queue
                .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))?
                .take(limit)
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            for key in due {
                queue.remove(key)?;
                let (_, run, sched) = key;
                let Some(mut task) = get_task(&tasks, RunId(run), sched)? else {
                    continue;
                };
                if task.leased {
                    // The lease expired: the worker died or hung. Count the lost attempt.
                    task.last_failure = Some(Failure::new(
                        "StartToCloseTimeout",
                        format!(
                            "attempt {} did not finish within {} ms",
                            task.attempt, task.start_to_close_timeout_ms
                        ),
                    ));
                    task.attempt += 1;
                }
                task.leased = true;
                task.visible_at_ms = now_ms.saturating_add(task.start_to_close_timeout_ms);
                queue.insert((task.visible_at_ms, run, sched), ())?;
                tasks.insert((run, sched), history::encode(&task).as_slice())?;
                out.push(LeasedActivity {
                    run: RunId(run),
                    namespace: get_run(&runs, RunId(run))?.namespace,
                    scheduled_event_id: EventId(sched),
                    task,
                });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Records the final outcome of an activity: ActivityTaskStarted (with the attempt) and
    /// ActivityTaskCompleted or ActivityTaskFailed, and schedules a Workflow Task.
    ///
    /// Returns `None` when the task is gone (an earlier attempt already reported, or the run
    /// closed): the outcome is dropped, as at-least-once delivery allows.
    /// Tables: runs, history, workflow_tasks, activity_tasks, activity_queue.
    pub fn finish_activity(
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
            let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
            let Some(task) = get_task(&tasks, run, scheduled_event_id.0)? else {
                return Ok(None);
            };
            if task.attempt != attempt {
                return Ok(None);
            }
            tasks.remove((run.0, scheduled_event_id.0))?;
            tx.open_table(ACTIVITY_QUEUE)?.remove((
                task.visible_at_ms,
                run.0,
                scheduled_event_id.0,
            ))?;
            let mut runs = tx.open_table(RUNS)?;
            let mut rec = get_run(&runs, run)?;
            if rec.status.is_closed() {
                drop((runs, tasks));
                tx.commit()?;
                return Ok(None);
            }
            let mut history = tx.open_table(HISTORY)?;
            append(
                &mut history,
                run,
                &mut rec,
                now_ms,
                EventKind::ActivityTaskStarted {
                    scheduled_event_id,
                    attempt,
                },
            )?;
            let kind = match outcome {
                Ok(result) => EventKind::ActivityTaskCompleted {
                    scheduled_event_id,
                    result,
                },
                Err(failure) => EventKind::ActivityTaskFailed {
                    scheduled_event_id,
                    failure,
                },
            };
            append(&mut history, run, &mut rec, now_ms, kind)?;
            let mut wft = tx.open_table(WORKFLOW_TASKS)?;
            fx.workflow_task =
                schedule_workflow_task(&mut history, &mut wft, run, &mut rec, now_ms)?;
            put_run(&mut runs, &mut tx.open_table(NS_USAGE)?, run, &rec)?;
        }
        tx.commit()?;
        Ok(Some(fx))
    }

    /// Puts an activity back in the queue for attempt `attempt + 1` at `retry_at_ms` after
    /// attempt `attempt` failed. Writes no history event (retries are not recorded).
    /// Tables: activity_tasks, activity_queue.
    pub fn retry_activity(
        &self,
        run: RunId,
        scheduled_event_id: EventId,
        attempt: u32,
        failure: Failure,
        retry_at_ms: u64,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
            let Some(mut task) = get_task(&tasks, run, scheduled_event_id.0)? else {
                return Ok(false);
            };
            if task.attempt != attempt {
                return Ok(false);
            }
            let mut queue = tx.open_table(ACTIVITY_QUEUE)?;
            queue.remove((task.visible_at_ms, run.0, scheduled_event_id.0))?;
            task.attempt += 1;
            task.leased = false;
            task.last_failure = Some(failure);
            task.visible_at_ms = retry_at_ms;
            queue.insert((retry_at_ms, run.0, scheduled_event_id.0), ())?;
            tasks.insert(
                (run.0, scheduled_event_id.0),
                history::encode(&task).as_slice(),
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Fires every timer due at `now_ms`: TimerFired, and a Workflow Task for each open run.
    /// Tables: timers, runs, history, workflow_tasks.
    pub fn fire_timers(&self, now_ms: u64) -> Result<usize, StoreError> {
        let tx = self.db.begin_write()?;
        let mut fired = 0;
        {
            let mut timers = tx.open_table(TIMERS)?;
            let due: Vec<(u64, u128, u64)> = timers
                .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))?
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            let mut runs = tx.open_table(RUNS)?;
            let mut history = tx.open_table(HISTORY)?;
            let mut wft = tx.open_table(WORKFLOW_TASKS)?;
            let mut usage = tx.open_table(NS_USAGE)?;
            for key in due {
                timers.remove(key)?;
                let (_, run, started) = key;
                let run = RunId(run);
                let mut rec = get_run(&runs, run)?;
                if rec.status.is_closed() {
                    continue;
                }
                append(
                    &mut history,
                    run,
                    &mut rec,
                    now_ms,
                    EventKind::TimerFired {
                        started_event_id: EventId(started),
                    },
                )?;
                schedule_workflow_task(&mut history, &mut wft, run, &mut rec, now_ms)?;
                put_run(&mut runs, &mut usage, run, &rec)?;
                fired += 1;
            }
        }
        tx.commit()?;
        Ok(fired)
    }
}

/// Read-only access for the CLI while a host may be writing.
pub struct ReadOnlyStore {
    db: redb::ReadOnlyDatabase,
}

impl ReadOnlyStore {
    /// Opens `path` for reading. Refuses files of a newer schema and files that are not weft
    /// databases.
    pub fn open(path: impl AsRef<Path>) -> Result<ReadOnlyStore, StoreError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "no such file".into(),
            });
        }
        let db = match builder().open_read_only(path) {
            Err(redb::DatabaseError::RepairAborted) => {
                // A crashed writer left the file to recover.
                open_as_host(path)?;
                builder().open_read_only(path)
            }
            other => other,
        }
        .map_err(|e| open_error(path, e))?;
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
            // Written by an earlier release: migrate it as the host would, then read.
            drop(db);
            open_as_host(path)?;
            return ReadOnlyStore::open(path);
        }
        Ok(ReadOnlyStore { db })
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
                history::decode::<Event>(v.value())
                    .map_err(|source| StoreError::Encoding { run, source })?,
            );
        }
        Ok((run, rec, events))
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

/// Opens `path` for writing and closes it again, which runs redb's crash recovery and weft's
/// schema migration, exactly as a host starting on the file would. Refused while a host holds
/// the file (it has done both already, unless it is still starting).
fn open_as_host(path: &Path) -> Result<(), StoreError> {
    match Store::open(path, 0) {
        Ok(store) => {
            drop(store);
            Ok(())
        }
        Err(StoreError::InUse(p)) => Err(StoreError::NeedsRecovery(p)),
        Err(e) => Err(e),
    }
}

fn get_run(
    runs: &impl ReadableTable<u128, &'static [u8]>,
    run: RunId,
) -> Result<RunRecord, StoreError> {
    let v = runs.get(run.0)?.ok_or_else(|| StoreError::Encoding {
        run,
        source: EncodingError::Corrupt("run record missing".into()),
    })?;
    history::decode(v.value()).map_err(|source| StoreError::Encoding { run, source })
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
            let old: RunRecord = history::decode(v.value())
                .map_err(|source| StoreError::Encoding { run, source })?;
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
/// namespace and history size; namespace usage is counted.
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
        let rec = RunRecord {
            namespace: default.clone(),
            history_bytes,
            workflow_id: v1.workflow_id,
            workflow_type: v1.workflow_type,
            status: v1.status,
            next_event_id: v1.next_event_id,
            start_ms: v1.start_ms,
            close_ms: v1.close_ms,
            workflow_task: v1.workflow_task,
        };
        // Remove first so `put_run` counts the record as new.
        runs.remove(id)?;
        put_run(&mut runs, &mut usage, run, &rec)?;
    }
    Ok(())
}

fn get_task(
    tasks: &impl ReadableTable<(u128, u64), &'static [u8]>,
    run: RunId,
    sched: u64,
) -> Result<Option<ActivityTask>, StoreError> {
    match tasks.get((run.0, sched))? {
        None => Ok(None),
        Some(v) => history::decode(v.value())
            .map(Some)
            .map_err(|source| StoreError::Encoding { run, source }),
    }
}

fn append(
    history: &mut redb::Table<(u128, u64), &[u8]>,
    run: RunId,
    rec: &mut RunRecord,
    time_ms: u64,
    kind: EventKind,
) -> Result<EventId, StoreError> {
    let id = EventId(rec.next_event_id);
    let event = Event { id, time_ms, kind };
    let bytes = history::encode(&event);
    history.insert((run.0, id.0), bytes.as_slice())?;
    rec.next_event_id += 1;
    rec.history_bytes += bytes.len() as u64;
    Ok(id)
}

/// Writes WorkflowTaskScheduled and queues the task unless one is already pending.
fn schedule_workflow_task(
    history: &mut redb::Table<(u128, u64), &[u8]>,
    wft: &mut redb::Table<(u64, u128), ()>,
    run: RunId,
    rec: &mut RunRecord,
    now_ms: u64,
) -> Result<bool, StoreError> {
    if rec.workflow_task.is_some() || rec.status.is_closed() {
        return Ok(false);
    }
    let id = append(
        history,
        run,
        rec,
        now_ms,
        EventKind::WorkflowTaskScheduled { attempt: 1 },
    )?;
    wft.insert((now_ms, run.0), ())?;
    rec.workflow_task = Some(PendingWorkflowTask {
        attempt: 1,
        due_ms: now_ms,
        scheduled_event_id: Some(id),
        last_failure: None,
    });
    Ok(true)
}

fn close(
    rec: &mut RunRecord,
    tasks: &mut redb::Table<(u128, u64), &[u8]>,
    queue: &mut redb::Table<(u64, u128, u64), ()>,
    run: RunId,
    status: RunStatus,
    now_ms: u64,
) -> Result<(), StoreError> {
    rec.status = status;
    rec.close_ms = Some(now_ms);
    // Activities of a closed run are not run any more.
    let pending: Vec<(u64, ActivityTask)> = tasks
        .range((run.0, 0)..=(run.0, u64::MAX))?
        .map(|e| {
            let (k, v) = e?;
            let task: ActivityTask = history::decode(v.value())
                .map_err(|source| StoreError::Encoding { run, source })?;
            Ok((k.value().1, task))
        })
        .collect::<Result<_, StoreError>>()?;
    for (sched, task) in pending {
        tasks.remove((run.0, sched))?;
        queue.remove((task.visible_at_ms, run.0, sched))?;
    }
    Ok(())
}

/// Makes every leased activity task visible again: its worker belonged to a process that no
/// longer holds the database.
fn release_leases(tx: &redb::WriteTransaction, now_ms: u64) -> Result<(), StoreError> {
    let mut tasks = tx.open_table(ACTIVITY_TASKS)?;
    let mut queue = tx.open_table(ACTIVITY_QUEUE)?;
    let leased: Vec<((u128, u64), ActivityTask)> = tasks
        .iter()?
        .map(|e| {
            let (k, v) = e?;
            let run = RunId(k.value().0);
            let task: ActivityTask = history::decode(v.value())
                .map_err(|source| StoreError::Encoding { run, source })?;
            Ok((k.value(), task))
        })
        .filter(|r: &Result<_, StoreError>| r.as_ref().map(|(_, t)| t.leased).unwrap_or(true))
        .collect::<Result<_, StoreError>>()?;
    for ((run, sched), mut task) in leased {
        queue.remove((task.visible_at_ms, run, sched))?;
        task.visible_at_ms = now_ms;
        queue.insert((now_ms, run, sched), ())?;
        tasks.insert((run, sched), history::encode(&task).as_slice())?;
    }
    Ok(())
}

//! The store's errors, and the history-limit overflow they carry. Says what went wrong and
//! what to do; decides nothing.

use super::*;

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
        /// What the database or the decoder reported.
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
    /// The database reported an error.
    #[error("database error: {0}")]
    Db(Box<dyn std::error::Error + Send + Sync>),
    /// A reset was refused; nothing was changed.
    #[error("reset of workflow {0} refused: {1}; nothing was changed")]
    ResetRefused(WorkflowId, String),
}

/// How many runs one change may terminate at their history limits before giving up; each is
/// the parent, Nexus caller or child of the one before, so this bounds a chain's length.
pub(super) const MAX_LIMIT_TERMINATIONS: u32 = 16;

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
pub(super) fn overflow_of(
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

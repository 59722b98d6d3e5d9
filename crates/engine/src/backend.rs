//! The storage traits the rules are written against: [`ReadTx`] and [`Tx`] (one read or write
//! transaction, per-table operations keyed by weft's own types) and [`Backend`] (a database
//! that runs transactions).
//!
//! A backend stores and finds; it decides nothing. What an event means, when a run closes,
//! whether a limit is passed, what a deadline does: all of that is the rules' (the other
//! modules of this crate). A backend keeps one derived value itself: each namespace's
//! [`NamespaceUsage`], moved by [`Tx::put_run`] by the difference to the stored record, so no
//! rule can forget it and a backend may keep it however suits it (a row updated in the same
//! transaction, a materialized view).
//!
//! Ordering: every `due_*` and `first_*` query orders by time, then run, then event id, as the
//! entries' keys say. Entries are identified by their whole key: removing one that is not
//! there does nothing. Errors of the database itself are [`StoreError::Db`]; a record that
//! does not decode is [`StoreError::Encoding`].
//!
//! The traits are object safe: the rules hold a `&mut dyn Tx`, so the engine is not generic
//! over its backend. The conformance suite (feature `conformance`) checks an implementation.

use super::*;

/// One entry of a time-ordered index (a queue, the timers, the deadlines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    /// When it is due, ms since the epoch.
    pub at_ms: u64,
    /// Its run.
    pub run: RunId,
    /// The event it belongs to (a scheduled or started event; 0 and 1 for run-level
    /// deadlines).
    pub id: EventId,
}

/// Reads of one transaction; every read of a [`Tx`] sees the transaction's own writes.
pub trait ReadTx {
    /// The record of `run`, if it exists.
    fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError>;
    /// The current run of workflow `id` in `namespace`.
    fn current_run(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<Option<RunId>, StoreError>;
    /// Every workflow of `namespace` (all namespaces if `None`) with its current run, in
    /// (namespace, workflow id) order.
    fn workflows(
        &self,
        namespace: Option<&Namespace>,
    ) -> Result<Vec<(WorkflowId, RunId)>, StoreError>;
    /// Every activity task queue with entries: how many (waiting and leased) and the due time
    /// of the first, in queue key order.
    fn activity_queues(&self) -> Result<Vec<QueueStats>, StoreError>;
    /// The digest of the workflow component `run` is pinned to, if it is pinned.
    fn component_of(&self, run: RunId) -> Result<Option<String>, StoreError>;
    /// What `namespace` holds.
    fn usage(&self, namespace: &Namespace) -> Result<NamespaceUsage, StoreError>;
    /// Event `id` of `run`'s history.
    fn event(&self, run: RunId, id: EventId) -> Result<Option<Event>, StoreError>;
    /// The whole history of `run`, in event id order.
    fn events(&self, run: RunId) -> Result<Vec<Event>, StoreError> {
        self.events_after(run, 0)
    }
    /// The events of `run`'s history after event `after`, in event id order.
    fn events_after(&self, run: RunId, after: u64) -> Result<Vec<Event>, StoreError>;
    /// The activity task of `run` scheduled at `sched`.
    fn activity(&self, run: RunId, sched: EventId) -> Result<Option<ActivityTask>, StoreError>;
    /// The activity tasks of `run`, in scheduled event order; of every run if `None`.
    fn activities(
        &self,
        run: Option<RunId>,
    ) -> Result<Vec<(RunId, EventId, ActivityTask)>, StoreError>;
    /// The Nexus task of `run` scheduled at `sched`.
    fn nexus_task(&self, run: RunId, sched: EventId) -> Result<Option<NexusTask>, StoreError>;
    /// The Nexus tasks of `run`, in scheduled event order; of every run if `None`.
    fn nexus_tasks(
        &self,
        run: Option<RunId>,
    ) -> Result<Vec<(RunId, EventId, NexusTask)>, StoreError>;
    /// The Nexus operation that operation token `token` of `namespace` names.
    fn nexus_token(
        &self,
        namespace: &Namespace,
        token: &str,
    ) -> Result<Option<(RunId, EventId)>, StoreError>;
    /// Workflow Tasks due at `now_ms` at the latest, at most `limit` (`id` is 0).
    fn due_workflow_tasks(&self, now_ms: u64, limit: usize) -> Result<Vec<Due>, StoreError>;
    /// The first Workflow Task due after `after_ms` (all of them if `None`).
    fn first_workflow_task(&self, after_ms: Option<u64>) -> Result<Option<u64>, StoreError>;
    /// Activity tasks of queue `queue_key` visible at `now_ms` at the latest, at most `limit`.
    fn due_activities(
        &self,
        queue_key: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError>;
    /// When the first activity task of queue `queue_key` is visible.
    fn first_activity(&self, queue_key: &str) -> Result<Option<u64>, StoreError>;
    /// Timers due at `now_ms` at the latest (`id`: their TimerStarted event).
    fn due_timers(&self, now_ms: u64) -> Result<Vec<Due>, StoreError>;
    /// Deadlines due at `now_ms` at the latest, with their kinds (`None`: a kind this
    /// release does not know).
    fn due_deadlines(&self, now_ms: u64) -> Result<Vec<(Due, Option<DeadlineKind>)>, StoreError>;
    /// The first timer and the first deadline.
    fn first_timer_and_deadline(&self) -> Result<(Option<u64>, Option<u64>), StoreError>;
    /// Nexus tasks to deliver at `now_ms` at the latest, at most `limit`.
    fn due_nexus(&self, now_ms: u64, limit: usize) -> Result<Vec<Due>, StoreError>;
    /// The first Nexus task to deliver.
    fn first_nexus(&self) -> Result<Option<u64>, StoreError>;
}

/// Writes of one write transaction, on top of its reads. Nothing is visible to other
/// transactions before [`Backend::write`] commits it.
pub trait Tx: ReadTx {
    /// Writes the record of `run`, and moves its namespace's [`NamespaceUsage`] by the
    /// difference to the record stored before (none: a new run).
    fn put_run(&mut self, run: RunId, rec: &RunRecord) -> Result<(), StoreError>;
    /// Makes `run` the current run of workflow `id` in `namespace`.
    fn set_current_run(
        &mut self,
        namespace: &Namespace,
        id: &WorkflowId,
        run: RunId,
    ) -> Result<(), StoreError>;
    /// Stores event `id` of `run`, encoded by [`crate::history::encode`].
    fn put_event(&mut self, run: RunId, id: EventId, encoded: &[u8]) -> Result<(), StoreError>;
    /// Queues a Workflow Task of `run` due at `due_ms`.
    fn queue_workflow_task(&mut self, due_ms: u64, run: RunId) -> Result<(), StoreError>;
    /// Removes that entry.
    fn dequeue_workflow_task(&mut self, due_ms: u64, run: RunId) -> Result<(), StoreError>;
    /// Stores the activity task of `run` scheduled at `sched`.
    fn put_activity(
        &mut self,
        run: RunId,
        sched: EventId,
        task: &ActivityTask,
    ) -> Result<(), StoreError>;
    /// Removes it.
    fn remove_activity(&mut self, run: RunId, sched: EventId) -> Result<(), StoreError>;
    /// Makes an activity task visible in queue `queue_key` at `at.at_ms`.
    fn queue_activity(&mut self, queue_key: &str, at: Due) -> Result<(), StoreError>;
    /// Removes that entry.
    fn dequeue_activity(&mut self, queue_key: &str, at: Due) -> Result<(), StoreError>;
    /// Arms a timer.
    fn add_timer(&mut self, at: Due) -> Result<(), StoreError>;
    /// Disarms a timer; false if it was not armed.
    fn remove_timer(&mut self, at: Due) -> Result<bool, StoreError>;
    /// Adds a deadline of `kind`.
    fn add_deadline(&mut self, at: Due, kind: DeadlineKind) -> Result<(), StoreError>;
    /// Removes a deadline.
    fn remove_deadline(&mut self, at: Due) -> Result<(), StoreError>;
    /// Stores the Nexus task of `run` scheduled at `sched`.
    fn put_nexus_task(
        &mut self,
        run: RunId,
        sched: EventId,
        task: &NexusTask,
    ) -> Result<(), StoreError>;
    /// Removes it.
    fn remove_nexus_task(&mut self, run: RunId, sched: EventId) -> Result<(), StoreError>;
    /// Queues a Nexus task delivery.
    fn queue_nexus(&mut self, at: Due) -> Result<(), StoreError>;
    /// Removes that entry.
    fn dequeue_nexus(&mut self, at: Due) -> Result<(), StoreError>;
    /// Records that operation token `token` of `namespace` names the operation of `run`
    /// scheduled at `sched`.
    fn put_nexus_token(
        &mut self,
        namespace: &Namespace,
        token: &str,
        run: RunId,
        sched: EventId,
    ) -> Result<(), StoreError>;
    /// Removes that token.
    fn remove_nexus_token(&mut self, namespace: &Namespace, token: &str) -> Result<(), StoreError>;
    /// Pins `run` to the workflow component with digest `digest`.
    fn put_component_of(&mut self, run: RunId, digest: &str) -> Result<(), StoreError>;
}

/// The closure a write transaction runs.
pub type WriteFn<'a> = dyn FnMut(&mut dyn Tx) -> Result<(), StoreError> + 'a;
/// The closure a read transaction runs.
pub type ReadFn<'a> = dyn FnMut(&dyn ReadTx) -> Result<(), StoreError> + 'a;

/// A write that failed inside a [`Batch`]: its error, and whether it had written anything
/// before it failed (then the batch holds part of it and must be aborted).
#[derive(Debug)]
pub struct JobFailed {
    /// Why it failed.
    pub error: StoreError,
    /// Whether a write method of the [`Tx`] ran before it failed.
    pub wrote: bool,
}

/// One write transaction that several writes share, committed once (group commit). Nothing
/// of it is visible to other transactions, nor durable, before [`Batch::commit`]; dropping it
/// aborts every write in it.
pub trait Batch: Send {
    /// Runs `f` in the transaction, after the writes run in it before. When `f` fails
    /// without writing anything, the transaction is as it was and may go on.
    fn run(&mut self, f: &mut WriteFn<'_>) -> Result<(), JobFailed>;
    /// Commits every write run in it, durably, in one commit.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A database the store keeps its state in. One writer at a time (transactions are
/// serializable); reads see a consistent snapshot.
pub trait Backend: Send + Sync {
    /// Begins a write transaction that several writes may share (see [`Batch`]). Waits while
    /// another is under way.
    fn begin(&self) -> Result<Box<dyn Batch>, StoreError>;
    /// Runs `f` in one write transaction of its own, once: commits when it returns `Ok`,
    /// aborts (nothing written) when it returns `Err`, and returns that error.
    fn write(&self, f: &mut WriteFn<'_>) -> Result<(), StoreError> {
        let mut batch = self.begin()?;
        batch.run(f).map_err(|failed| failed.error)?;
        batch.commit()
    }
    /// Runs `f` in one read transaction, once.
    fn read(&self, f: &mut ReadFn<'_>) -> Result<(), StoreError>;
    /// Closes the database: transactions under way finish, later ones fail with
    /// [`StoreError::Closed`]. Idempotent.
    fn close(&self);
}

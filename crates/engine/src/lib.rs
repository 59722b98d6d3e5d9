//! weft's engine: every rule that changes durable state (run lifecycle, retries, timeouts,
//! parent close, continue-as-new, Nexus callbacks), written against the storage traits
//! ([`Backend`], [`Tx`], [`ReadTx`]), and [`Store`], which runs them on a backend. Storage
//! itself is elsewhere: `weft-store-redb` implements the traits on a redb file, and the
//! conformance suite (feature `conformance`) checks any implementation.
//!
//! The history is the truth; the run, task, queue, timer and deadline entries are projections
//! kept in step with it inside the same write transaction. Each public method that changes
//! state is one write transaction (`Store::write`, through `W`). This crate does not run
//! guests, activities or Nexus handlers and makes no timing decisions: callers pass `now`.
//!
//! Limits are checked inside the transaction that would pass them, never after a commit: each
//! appended event against its run's history limits, each opened run (start, child, Nexus
//! workflow operation) against its namespace's quotas, as [`NamespaceLimits`] says per
//! namespace ([`Store::with_limits`]). A change a run cannot do without (a task completion, a
//! result, a timer) that would pass a history limit terminates the run instead; a signal is
//! refused to its sender.
//!
//! Layout. Storage: `backend` (the traits), `records` (what is stored besides events, and the
//! operations' values), `error`. Rules: `rules` (`W`: a [`Tx`] and the limits), `lifecycle`
//! (append within limits, create, continue, close, retry, parent close policy, signal, cancel
//! request), `workflow` (start, signal, cancel, terminate), `commit` (Workflow Task
//! completions, one module per command kind), `activity`, `nexus`, `timers` (timers and
//! deadlines), `reset`. `gate`: turns at the single writer. This crate does no I/O of its own.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
pub use weft_core::command::{Command, Target};
use weft_core::history::{
    self, CancellationType, EncodingError, Event, EventKind, Failure, IdReusePolicy,
    ParentClosePolicy, Payload, RetryPolicy, WorkflowOptions, WorkflowTaskFailedCause,
};
use weft_core::ids::{EventId, Namespace, RunId, WorkflowId};
use weft_core::limits::Limits;

mod activity;
mod backend;
mod commit;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod gate;
mod group;
pub use group::CommitStats;
mod lifecycle;
mod nexus;
mod records;
mod reset;
mod rules;
mod timers;
mod workflow;

pub use backend::{Backend, Batch, Due, JobFailed, ReadFn, ReadTx, Tx, WriteFn};
use error::*;
pub use error::{HistoryOverflow, StoreError};
pub use gate::WriteGate;
use lifecycle::*;
pub use records::*;
pub use reset::ResetRequest;
use rules::{W, at};

/// Runs with a due Workflow Task, with their namespaces, oldest first.
pub type DueRuns = Vec<(RunId, Namespace)>;

/// Handle to an open weft database: the rules, run against a [`Backend`].
///
/// `weft-store-redb` opens one on a redb file.
pub struct Store {
    backend: std::sync::Arc<dyn Backend>,
    path: PathBuf,
    /// Read at the start of every write; changed at runtime by [`Store::set_limits`].
    limits: std::sync::RwLock<StoreLimits>,
    gate: WriteGate,
    group: group::Group,
}

impl Store {
    /// The store on an opened `backend` (`location` names it in messages). Leases held by an
    /// earlier process are released: only one process writes a database.
    pub fn with_backend(
        backend: std::sync::Arc<dyn Backend>,
        location: impl Into<PathBuf>,
        now_ms: u64,
    ) -> Result<Store, StoreError> {
        let store = Store {
            backend,
            path: location.into(),
            limits: std::sync::RwLock::new(StoreLimits {
                default: NamespaceLimits::host(&Limits::default()),
                namespaces: HashMap::new(),
            }),
            gate: Default::default(),
            group: Default::default(),
        };
        store.release_leases(now_ms)?;
        Ok(store)
    }

    /// The backend this store runs on (to open another store on it, as after a restart).
    pub fn backend(&self) -> std::sync::Arc<dyn Backend> {
        self.backend.clone()
    }

    /// Runs `f` as one write: committed durably when it returns `Ok` (in a group commit with
    /// the writes of other threads, see `group`), nothing written when it returns `Err`. `f`
    /// may run more than once: when another write aborts the batch it ran in, it runs again
    /// in the next, on the state as it is then.
    fn write<R>(
        &self,
        mut f: impl FnMut(&mut W<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let lane = LANE.with(|l| l.borrow().clone());
        // The first write inside `Store::after_held` gives back its hold.
        let mut release = HELD.with(|h| match h.get() {
            Some(held) if held.group == self.group_id() => h.take(),
            _ => None,
        });
        loop {
            let mut out = None;
            let mut job = self.job(&mut f, &mut out);
            let mode = release.map_or(group::Mode::Plain, |h| group::Mode::Release(h.batch));
            let written =
                self.group
                    .write(&*self.backend, &self.gate, lane.as_ref(), &mut job, mode);
            drop(job);
            let held = release.take();
            let held_done = written
                .held
                .as_ref()
                .is_none_or(|f| *f == group::Fate::Done);
            if let Some(fate) = written.held {
                HELD_FATE.with(|f| *f.borrow_mut() = Some(fate));
            }
            // A write that depends on a held write that did not commit must not run alone.
            let conflict = |h: HeldOn| StoreError::Conflict(h.run, h.next_event_id, 0);
            match written.outcome {
                group::Outcome::Done => {
                    return Ok(out.expect("a committed write ran its closure"));
                }
                group::Outcome::Again if held_done => continue,
                group::Outcome::Again | group::Outcome::NotRun => {
                    return Err(conflict(held.expect("only a releasing write is not run")));
                }
                group::Outcome::Failed(e) => return Err(e),
                group::Outcome::Held(_) => unreachable!("a plain write is not held"),
            }
        }
    }

    /// The closure a batch runs for `f`, keeping what it returned in `out`.
    fn job<'a, R>(
        &'a self,
        f: &'a mut impl FnMut(&mut W<'_>) -> Result<R, StoreError>,
        out: &'a mut Option<R>,
    ) -> impl FnMut(&mut dyn Tx) -> Result<(), StoreError> + 'a {
        move |tx: &mut dyn Tx| {
            let limits = self.limits.read().expect("limits lock");
            let mut w = W {
                tx,
                limits: &limits,
                closed: Vec::new(),
            };
            *out = Some(f(&mut w)?);
            Ok(())
        }
    }

    fn group_id(&self) -> usize {
        &self.group as *const group::Group as usize
    }

    /// Runs `f` as one write, like every write, but returns as soon as it ran, before its batch
    /// commits, with the number of the batch it holds open. Other writes still join the
    /// batch; it commits once the caller gives the hold back ([`Store::after_held`]) or it has
    /// been open too long.
    fn write_held<R>(
        &self,
        mut f: impl FnMut(&mut W<'_>) -> Result<R, StoreError>,
    ) -> Result<(R, u64), StoreError> {
        let lane = LANE.with(|l| l.borrow().clone());
        let mut out = None;
        let mut job = self.job(&mut f, &mut out);
        let written = self.group.write(
            &*self.backend,
            &self.gate,
            lane.as_ref(),
            &mut job,
            group::Mode::Hold,
        );
        drop(job);
        match written.outcome {
            group::Outcome::Held(batch) => Ok((out.expect("a held write ran"), batch)),
            group::Outcome::Failed(e) => Err(e),
            _ => unreachable!("a held write returns once it ran, or fails"),
        }
    }

    /// Runs `then` while this thread holds batch `batch` (taken by [`Store::write_held`] for a
    /// write that left `run` at `next_event_id`): the first write `then` makes on this thread
    /// runs after the held one, in the same commit while it is open. Returns what `then`
    /// returned and what became of the held write. A write of `then` is refused with
    /// [`StoreError::Conflict`] when the held write did not commit.
    fn after_held<T>(
        &self,
        batch: u64,
        run: RunId,
        next_event_id: u64,
        then: impl FnOnce() -> T,
    ) -> (T, group::Fate) {
        struct Releasing<'s>(&'s Store);
        impl Drop for Releasing<'_> {
            fn drop(&mut self) {
                // `then` made no write (or panicked before one): give the hold back.
                if let Some(held) = HELD.with(|h| h.take()) {
                    let fate = self.0.group.finish(held.batch);
                    HELD_FATE.with(|f| *f.borrow_mut() = Some(fate));
                }
            }
        }
        HELD_FATE.with(|f| f.borrow_mut().take());
        HELD.with(|h| {
            h.set(Some(HeldOn {
                group: self.group_id(),
                batch,
                run,
                next_event_id,
            }))
        });
        let releasing = Releasing(self);
        let out = then();
        drop(releasing);
        let fate = HELD_FATE
            .with(|f| f.borrow_mut().take())
            .expect("the hold was given back");
        (out, fate)
    }

    /// Runs `write` held ([`Store::write_held`]); when it returns a run to go on with, runs
    /// `then` on it while the batch is held, so that the first write `then` makes commits
    /// with it ([`Store::after_held`]). Fails as `write` does; [`Then::Again`] when the batch
    /// did not commit: the caller runs its write again on its own.
    fn write_then<R, T>(
        &self,
        write: impl FnMut(&mut W<'_>) -> Result<(R, Option<(RunId, LoadedRun)>), StoreError>,
        then: impl FnOnce(RunId, LoadedRun) -> T,
    ) -> Result<Then<R, T>, StoreError> {
        let ((out, next), batch) = self.write_held(write)?;
        let (run, next_event_id) = next
            .as_ref()
            .map_or((RunId(0), 0), |(run, l)| (*run, l.rec.next_event_id));
        let (then_out, fate) = self.after_held(batch, run, next_event_id, || {
            next.map(|(run, loaded)| then(run, loaded))
        });
        match fate {
            group::Fate::Done => Ok(Then::Done(out, then_out)),
            group::Fate::Again => Ok(Then::Again(then_out)),
            group::Fate::Failed(message) => Err(StoreError::Db(message.into())),
        }
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&dyn ReadTx) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.read(&mut |tx: &dyn ReadTx| {
            let f = f.take().expect("a read transaction runs its closure once");
            out = Some(f(tx)?);
            Ok(())
        })?;
        Ok(out.expect("a read transaction ran its closure"))
    }

    /// Makes every leased activity and Nexus task visible now: its worker belonged to a
    /// process that no longer holds the database. A leased activity stays marked leased, so
    /// handing it out again counts the lost attempt.
    fn release_leases(&self, now_ms: u64) -> Result<(), StoreError> {
        self.write(|w| {
            for (run, sched, mut task) in w.tx.activities(None)? {
                if !task.leased {
                    continue;
                }
                let ns = w.get_run(run)?.namespace;
                let qk = queue_key(&ns, &task.task_queue);
                w.tx.dequeue_activity(&qk, at(task.visible_at_ms, run, sched.0))?;
                task.visible_at_ms = now_ms;
                w.tx.queue_activity(&qk, at(now_ms, run, sched.0))?;
                w.put_task(run, sched.0, &task)?;
            }
            for (run, sched, mut task) in w.tx.nexus_tasks(None)? {
                if !task.leased {
                    continue;
                }
                w.tx.dequeue_nexus(at(task.visible_at_ms, run, sched.0))?;
                task.visible_at_ms = now_ms;
                w.tx.queue_nexus(at(now_ms, run, sched.0))?;
                w.put_nexus(run, sched.0, &task)?;
            }
            Ok(())
        })
    }

    /// Sets the limits the store enforces: `namespaces` for the namespaces listed, `default`
    /// for any other. Until this is called, every namespace has the default [`Limits`]'
    /// history limits and no start quotas.
    pub fn with_limits(
        mut self,
        default: NamespaceLimits,
        namespaces: HashMap<Namespace, NamespaceLimits>,
    ) -> Store {
        *self.limits.get_mut().expect("limits lock") = StoreLimits {
            default,
            namespaces,
        };
        self
    }

    /// Sets (`Some`) or removes (`None`: the default applies) the limits of `namespace` while
    /// the store is in use; writes that begin afterwards enforce them.
    pub fn set_limits(&self, namespace: &Namespace, limits: Option<NamespaceLimits>) {
        let mut all = self.limits.write().expect("limits lock");
        match limits {
            Some(l) => all.namespaces.insert(namespace.clone(), l),
            None => all.namespaces.remove(namespace),
        };
    }

    /// The limits the store enforces for `namespace`.
    pub fn limits(&self, namespace: &Namespace) -> NamespaceLimits {
        self.limits.read().expect("limits lock").of(namespace)
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

    /// Makes the writes this thread makes, until the returned [`Lane`] is dropped, take
    /// `namespace`'s turns at the writer (round-robin between namespaces, see
    /// [`WriteGate`]). Writes outside any lane take turns as a namespace of their own.
    pub fn lane(&self, namespace: &Namespace) -> Lane {
        Lane(LANE.with(|l| l.replace(Some(namespace.clone()))))
    }

    /// Commits made since the store was opened, and the writes they carried.
    pub fn commit_stats(&self) -> CommitStats {
        self.group.stats()
    }

    /// How many commits left a Workflow Task queued (due now or later), counted before any
    /// write of such a commit returns: a host wakes its Workflow Task loop after a commit only
    /// when this moved. A Workflow Task queued and run in one commit (the task an activity
    /// result wakes, run at once: [`Store::report_activity_then`]) does not move it.
    pub fn workflow_tasks_queued(&self) -> u64 {
        self.group.workflow_tasks_queued()
    }

    /// Where the database is (the location the backend was opened with).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the database file cleanly, so the next open needs no recovery, even while
    /// other holders still share this `Store`. A write transaction under way commits first;
    /// every later call fails with [`StoreError::Closed`]. Dropping the last holder does the
    /// same; closing twice does nothing.
    pub fn close(&self) {
        self.backend.close();
    }

    /// Runs whose Workflow Task is due at `now_ms`, oldest first, at most `limit`, with their
    /// namespaces. Runs for which `skip` returns true are passed over without counting, so that
    /// one namespace's backlog does not hide another's due tasks; at most `16 * limit` due
    /// entries are read.
    pub fn due_workflow_tasks(
        &self,
        now_ms: u64,
        limit: usize,
        skip: impl FnMut(RunId, &Namespace) -> bool,
    ) -> Result<DueRuns, StoreError> {
        self.workflow_task_round(now_ms, limit, |_| false, skip)
            .map(|(due, _)| due)
    }

    /// One round of the Workflow Task loop in one read: [`Store::due_workflow_tasks`], except
    /// that runs for which `busy` returns true (a task of theirs is in flight) are passed over
    /// before their record is read, and the due time of the first task due after `now_ms`.
    pub fn workflow_task_round(
        &self,
        now_ms: u64,
        limit: usize,
        busy: impl Fn(RunId) -> bool,
        mut skip: impl FnMut(RunId, &Namespace) -> bool,
    ) -> Result<(DueRuns, Option<u64>), StoreError> {
        self.read(|tx| {
            let mut out = Vec::new();
            for due in tx.due_workflow_tasks(now_ms, limit.saturating_mul(16))? {
                if busy(due.run) {
                    continue;
                }
                let namespace = run_of(tx, due.run)?.namespace;
                if skip(due.run, &namespace) {
                    continue;
                }
                out.push((due.run, namespace));
                if out.len() >= limit {
                    break;
                }
            }
            Ok((out, tx.first_workflow_task(Some(now_ms))?))
        })
    }

    /// Earliest due time of a Workflow Task, of an activity task in `queue_key` (see
    /// [`queue_key`]), of a timer or deadline, and of a Nexus task, in that order.
    pub fn next_due(&self, queue_key: &str) -> Result<[Option<u64>; 4], StoreError> {
        self.read(|tx| {
            let a = tx.first_workflow_task(None)?;
            let b = tx.first_activity(queue_key)?;
            let c = match tx.first_timer_and_deadline()? {
                (Some(t), Some(d)) => Some(t.min(d)),
                (t, d) => t.or(d),
            };
            let n = tx.first_nexus()?;
            Ok([a, b, c, n])
        })
    }

    /// When the first activity task of queue `queue_key` is visible (one table read, for a
    /// queue's worker).
    pub fn next_activity(&self, queue_key: &str) -> Result<Option<u64>, StoreError> {
        self.read(|tx| tx.first_activity(queue_key))
    }

    /// The earliest due time of a timer or a deadline (for the timer loop).
    pub fn next_timer_or_deadline(&self) -> Result<Option<u64>, StoreError> {
        self.read(|tx| {
            Ok(match tx.first_timer_and_deadline()? {
                (Some(t), Some(d)) => Some(t.min(d)),
                (t, d) => t.or(d),
            })
        })
    }

    /// When the first Nexus task is to be delivered (for the Nexus loop).
    pub fn next_nexus(&self) -> Result<Option<u64>, StoreError> {
        self.read(|tx| tx.first_nexus())
    }

    /// The run record of `run`.
    pub fn run(&self, run: RunId) -> Result<RunRecord, StoreError> {
        self.read(|tx| run_of(tx, run))
    }

    /// The run record of `run`, `None` if there is no such run.
    pub fn find_run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.read(|tx| tx.run(run))
    }

    /// Every activity task queue with tasks in it (for metrics: a full scan of the queues).
    pub fn activity_queues(&self) -> Result<Vec<QueueStats>, StoreError> {
        self.read(|tx| tx.activity_queues())
    }

    /// The digest of the workflow component `run` is pinned to, if any.
    pub fn component_of(&self, run: RunId) -> Result<Option<String>, StoreError> {
        self.read(|tx| tx.component_of(run))
    }

    /// Pins `run` to the component with digest `digest` and returns the run's pin: with
    /// `replace` false a run already pinned keeps its pin (the first task of a run pins it to
    /// the component that ran it); with `replace` true the pin moves (a run moved to a
    /// compatible new version).
    pub fn pin_component(
        &self,
        run: RunId,
        digest: &str,
        replace: bool,
    ) -> Result<String, StoreError> {
        self.write(|w| {
            if !replace && let Some(pinned) = w.tx.component_of(run)? {
                return Ok(pinned);
            }
            w.tx.put_component_of(run, digest)?;
            Ok(digest.to_string())
        })
    }

    /// The current (latest) run of workflow `id` in `namespace`.
    pub fn current_run(
        &self,
        namespace: &Namespace,
        id: &WorkflowId,
    ) -> Result<(RunId, RunRecord), StoreError> {
        self.read(|tx| current_run_of(tx, namespace, id))
    }

    /// Every workflow of `namespace` with its current run's record, in workflow id order,
    /// read in one snapshot.
    pub fn list(
        &self,
        namespace: &Namespace,
    ) -> Result<Vec<(WorkflowId, RunId, RunRecord)>, StoreError> {
        self.read(|tx| {
            tx.workflows(Some(namespace))?
                .into_iter()
                .map(|(id, run)| Ok((id, run, run_of(tx, run)?)))
                .collect()
        })
    }

    /// The record and the full history of `run`, read in one snapshot.
    pub fn load_run(&self, run: RunId) -> Result<(RunRecord, Vec<Event>), StoreError> {
        self.read(|tx| Ok((run_of(tx, run)?, tx.events(run)?)))
    }

    /// What a Workflow Task of `run` reads, in one snapshot: its history after event `after`
    /// (0: the whole history).
    pub fn load_task_run(&self, run: RunId, after: u64) -> Result<LoadedRun, StoreError> {
        self.read(|tx| LoadedRun::read(tx, run, after))
    }
}

thread_local! {
    /// The namespace whose turns this thread's writes take (see [`Store::lane`]).
    static LANE: std::cell::RefCell<Option<Namespace>> = const { std::cell::RefCell::new(None) };
    /// The batch this thread holds open, given back by its next write (see
    /// [`Store::after_held`]).
    static HELD: std::cell::Cell<Option<HeldOn>> = const { std::cell::Cell::new(None) };
    /// What became of the held write, once the hold was given back.
    static HELD_FATE: std::cell::RefCell<Option<group::Fate>> = const { std::cell::RefCell::new(None) };
}

/// What became of a [`Store::write_then`].
enum Then<R, T> {
    /// Committed, with what `then` returned if it ran.
    Done(R, Option<T>),
    /// Not committed: the write must run again on its own (a write of `then` was refused).
    Again(Option<T>),
}

/// A batch held open by a write of this thread.
#[derive(Clone, Copy)]
struct HeldOn {
    /// The store's group commit (its address).
    group: usize,
    batch: u64,
    /// The run the held write changed, and its next event id after it.
    run: RunId,
    next_event_id: u64,
}

/// The lane a thread's writes are in, until dropped (see [`Store::lane`]).
#[must_use = "the lane ends when this is dropped"]
pub struct Lane(Option<Namespace>);

impl Drop for Lane {
    fn drop(&mut self) {
        let previous = self.0.take();
        LANE.with(|l| *l.borrow_mut() = previous);
    }
}

/// A run as a Workflow Task reads it.
#[derive(Clone, Debug)]
pub struct LoadedRun {
    /// Its record.
    pub rec: RunRecord,
    /// Its history after event `after`: the whole history when `after` is 0, otherwise what
    /// a cached instance that has seen the events up to `after` lacks.
    pub history: Vec<Event>,
    /// See `history`.
    pub after: u64,
    /// The component version it is pinned to, if any.
    pub component: Option<String>,
}

impl LoadedRun {
    fn read(tx: &dyn ReadTx, run: RunId, after: u64) -> Result<LoadedRun, StoreError> {
        let rec = run_of(tx, run)?;
        // Past the end (a history cut by a reset): the whole history.
        let after = if after >= rec.next_event_id { 0 } else { after };
        Ok(LoadedRun {
            history: tx.events_after(run, after)?,
            after,
            rec,
            component: tx.component_of(run)?,
        })
    }
}

/// The record of `run`, which must exist.
pub fn run_of(tx: &dyn ReadTx, run: RunId) -> Result<RunRecord, StoreError> {
    tx.run(run)?.ok_or_else(|| StoreError::Encoding {
        run,
        source: EncodingError::Corrupt("run record missing".into()),
    })
}

/// The current run of workflow `id` in `namespace` and its record.
pub fn current_run_of(
    tx: &dyn ReadTx,
    namespace: &Namespace,
    id: &WorkflowId,
) -> Result<(RunId, RunRecord), StoreError> {
    let run = tx
        .current_run(namespace, id)?
        .ok_or_else(|| StoreError::UnknownWorkflow(id.clone()))?;
    Ok((run, run_of(tx, run)?))
}

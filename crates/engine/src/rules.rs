//! `W`: one write transaction as the rules see it, the [`Tx`] and the limits to hold it to,
//! with the record access the rules share (a run that must exist; a task with its queue
//! entry). The rules themselves are the other modules' `impl W` blocks. Knows no table.

use super::*;

/// One write transaction and the limits the rules hold it to.
pub(super) struct W<'a> {
    /// The transaction.
    pub(super) tx: &'a mut dyn Tx,
    /// The limits of every namespace.
    pub(super) limits: &'a StoreLimits,
    /// Runs this write closed ([`W::close`]): operations returning [`crate::Effects`] report
    /// them, so that the host wakes whoever waits for them.
    pub(super) closed: Vec<RunId>,
}

/// The entry of `id` of `run` due at `at_ms` in a time-ordered index.
pub(super) fn at(at_ms: u64, run: RunId, id: u64) -> Due {
    Due {
        at_ms,
        run,
        id: EventId(id),
    }
}

impl W<'_> {
    /// Queues a Workflow Task of `run` due at `due_ms` (see [`Store::workflow_tasks_queued`]).
    pub(super) fn queue_workflow_task(
        &mut self,
        due_ms: u64,
        run: RunId,
    ) -> Result<(), StoreError> {
        self.tx.queue_workflow_task(due_ms, run)?;
        group::note_workflow_task(true, due_ms, run);
        Ok(())
    }

    /// Takes the Workflow Task of `run` due at `due_ms` off the queue.
    pub(super) fn dequeue_workflow_task(
        &mut self,
        due_ms: u64,
        run: RunId,
    ) -> Result<(), StoreError> {
        self.tx.dequeue_workflow_task(due_ms, run)?;
        group::note_workflow_task(false, due_ms, run);
        Ok(())
    }

    /// The record of `run`, which must exist.
    pub(super) fn get_run(&self, run: RunId) -> Result<RunRecord, StoreError> {
        self.tx.run(run)?.ok_or_else(|| StoreError::Encoding {
            run,
            source: EncodingError::Corrupt("run record missing".into()),
        })
    }

    pub(super) fn put_run(&mut self, run: RunId, rec: &RunRecord) -> Result<(), StoreError> {
        self.tx.put_run(run, rec)
    }

    pub(super) fn get_task(
        &self,
        run: RunId,
        sched: u64,
    ) -> Result<Option<ActivityTask>, StoreError> {
        self.tx.activity(run, EventId(sched))
    }

    pub(super) fn put_task(
        &mut self,
        run: RunId,
        sched: u64,
        task: &ActivityTask,
    ) -> Result<(), StoreError> {
        self.tx.put_activity(run, EventId(sched), task)
    }

    /// Removes an activity task and its queue entry.
    pub(super) fn remove_task(
        &mut self,
        ns: &Namespace,
        run: RunId,
        sched: u64,
        task: &ActivityTask,
    ) -> Result<(), StoreError> {
        self.tx.remove_activity(run, EventId(sched))?;
        let qk = queue_key(ns, &task.task_queue);
        self.tx
            .dequeue_activity(&qk, at(task.visible_at_ms, run, sched))
    }

    pub(super) fn get_nexus(
        &self,
        run: RunId,
        sched: u64,
    ) -> Result<Option<NexusTask>, StoreError> {
        self.tx.nexus_task(run, EventId(sched))
    }

    pub(super) fn put_nexus(
        &mut self,
        run: RunId,
        sched: u64,
        task: &NexusTask,
    ) -> Result<(), StoreError> {
        self.tx.put_nexus_task(run, EventId(sched), task)
    }

    /// Removes a Nexus task, its queue entry and its operation token.
    pub(super) fn remove_nexus(
        &mut self,
        ns: &Namespace,
        run: RunId,
        sched: u64,
        task: &NexusTask,
    ) -> Result<(), StoreError> {
        self.tx.remove_nexus_task(run, EventId(sched))?;
        self.tx.dequeue_nexus(at(task.visible_at_ms, run, sched))?;
        if let Some(t) = &task.operation_token {
            self.tx.remove_nexus_token(ns, t)?;
        }
        Ok(())
    }
}

//! The redb implementation of [`ReadTx`] and [`Tx`]: the tables of one transaction (all of a
//! write transaction's opened at once, a read transaction's each when first used), and each
//! trait operation as a lookup, range or update of one table (two for
//! [`Tx::put_run`], which keeps `ns_usage`). Knows the tuple keys; knows no rules.

// The types spelled out here are the tables' key and value types, as in `tables.rs`.
#![allow(clippy::type_complexity)]

use super::*;
use std::cell::OnceCell;

/// The tables of one read transaction, each opened when first used: a read touches one or
/// two tables, and opening all of them cost more than the read itself.
pub(super) struct RedbRead<'a> {
    tx: &'a redb::ReadTransaction,
    workflows: OnceCell<redb::ReadOnlyTable<(&'static str, &'static str), u128>>,
    runs: OnceCell<redb::ReadOnlyTable<u128, &'static [u8]>>,
    history: OnceCell<redb::ReadOnlyTable<(u128, u64), &'static [u8]>>,
    wft: OnceCell<redb::ReadOnlyTable<(u64, u128), ()>>,
    tasks: OnceCell<redb::ReadOnlyTable<(u128, u64), &'static [u8]>>,
    queue: OnceCell<redb::ReadOnlyTable<(&'static str, u64, u128, u64), ()>>,
    timers: OnceCell<redb::ReadOnlyTable<(u64, u128, u64), ()>>,
    deadlines: OnceCell<redb::ReadOnlyTable<(u64, u128, u64), u8>>,
    nexus: OnceCell<redb::ReadOnlyTable<(u128, u64), &'static [u8]>>,
    nexus_queue: OnceCell<redb::ReadOnlyTable<(u64, u128, u64), ()>>,
    tokens: OnceCell<redb::ReadOnlyTable<(&'static str, &'static str), (u128, u64)>>,
    usage: OnceCell<redb::ReadOnlyTable<&'static str, (u64, u64)>>,
    pins: OnceCell<redb::ReadOnlyTable<u128, &'static str>>,
}

impl<'a> RedbRead<'a> {
    pub(super) fn open(tx: &'a redb::ReadTransaction) -> Result<RedbRead<'a>, StoreError> {
        Ok(RedbRead {
            tx,
            workflows: OnceCell::new(),
            runs: OnceCell::new(),
            history: OnceCell::new(),
            wft: OnceCell::new(),
            tasks: OnceCell::new(),
            queue: OnceCell::new(),
            timers: OnceCell::new(),
            deadlines: OnceCell::new(),
            nexus: OnceCell::new(),
            nexus_queue: OnceCell::new(),
            tokens: OnceCell::new(),
            usage: OnceCell::new(),
            pins: OnceCell::new(),
        })
    }

    fn workflows(
        &self,
    ) -> Result<&redb::ReadOnlyTable<(&'static str, &'static str), u128>, StoreError> {
        lazy(&self.workflows, || self.tx.open_table(WORKFLOWS))
    }

    fn runs(&self) -> Result<&redb::ReadOnlyTable<u128, &'static [u8]>, StoreError> {
        lazy(&self.runs, || self.tx.open_table(RUNS))
    }

    fn history(&self) -> Result<&redb::ReadOnlyTable<(u128, u64), &'static [u8]>, StoreError> {
        lazy(&self.history, || self.tx.open_table(HISTORY))
    }

    fn wft(&self) -> Result<&redb::ReadOnlyTable<(u64, u128), ()>, StoreError> {
        lazy(&self.wft, || self.tx.open_table(WORKFLOW_TASKS))
    }

    fn tasks(&self) -> Result<&redb::ReadOnlyTable<(u128, u64), &'static [u8]>, StoreError> {
        lazy(&self.tasks, || self.tx.open_table(ACTIVITY_TASKS))
    }

    fn queue(
        &self,
    ) -> Result<&redb::ReadOnlyTable<(&'static str, u64, u128, u64), ()>, StoreError> {
        lazy(&self.queue, || self.tx.open_table(ACTIVITY_QUEUE))
    }

    fn timers(&self) -> Result<&redb::ReadOnlyTable<(u64, u128, u64), ()>, StoreError> {
        lazy(&self.timers, || self.tx.open_table(TIMERS))
    }

    fn deadlines(&self) -> Result<&redb::ReadOnlyTable<(u64, u128, u64), u8>, StoreError> {
        lazy(&self.deadlines, || self.tx.open_table(DEADLINES))
    }

    fn nexus(&self) -> Result<&redb::ReadOnlyTable<(u128, u64), &'static [u8]>, StoreError> {
        lazy(&self.nexus, || self.tx.open_table(NEXUS_TASKS))
    }

    fn nexus_queue(&self) -> Result<&redb::ReadOnlyTable<(u64, u128, u64), ()>, StoreError> {
        lazy(&self.nexus_queue, || self.tx.open_table(NEXUS_QUEUE))
    }

    fn tokens(
        &self,
    ) -> Result<&redb::ReadOnlyTable<(&'static str, &'static str), (u128, u64)>, StoreError> {
        lazy(&self.tokens, || self.tx.open_table(NEXUS_TOKENS))
    }

    fn usage(&self) -> Result<&redb::ReadOnlyTable<&'static str, (u64, u64)>, StoreError> {
        lazy(&self.usage, || self.tx.open_table(NS_USAGE))
    }

    fn run_component(&self, run: RunId) -> Result<Option<String>, StoreError> {
        // A file an older release wrote (read without opening it for writing) has no pins.
        if self.pins.get().is_none() {
            match self.tx.open_table(RUN_COMPONENTS) {
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                other => {
                    lazy(&self.pins, || other)?;
                }
            }
        }
        pin_of(self.pins.get().expect("opened above"), run)
    }
}

fn pin_of(
    table: &impl ReadableTable<u128, &'static str>,
    run: RunId,
) -> Result<Option<String>, StoreError> {
    Ok(table
        .get(run.0)
        .map_err(db_error)?
        .map(|v| v.value().to_string()))
}

/// The table in `cell`, opened by `open` the first time.
fn lazy<T>(
    cell: &OnceCell<T>,
    open: impl FnOnce() -> Result<T, redb::TableError>,
) -> Result<&T, StoreError> {
    if let Some(t) = cell.get() {
        return Ok(t);
    }
    let t = open().map_err(db_error)?;
    Ok(cell.get_or_init(|| t))
}

/// The table `def` of `tx` in `cell`, opened the first time, for writing.
fn open_mut<'s, 't, K: redb::Key + 'static, V: redb::Value + 'static>(
    cell: &'s mut OnceCell<redb::Table<'t, K, V>>,
    tx: &'t redb::WriteTransaction,
    def: redb::TableDefinition<'static, K, V>,
) -> Result<&'s mut redb::Table<'t, K, V>, StoreError> {
    if cell.get().is_none() {
        let t = tx.open_table(def).map_err(db_error)?;
        let _ = cell.set(t);
    }
    Ok(cell.get_mut().expect("opened above"))
}

/// The tables of one write transaction, each opened when a write first uses it (a write
/// touches a few of them; opening and closing a table costs a lookup and a root update).
pub(super) struct RedbTx<'t> {
    workflows: OnceCell<redb::Table<'t, (&'static str, &'static str), u128>>,
    runs: OnceCell<redb::Table<'t, u128, &'static [u8]>>,
    history: OnceCell<redb::Table<'t, (u128, u64), &'static [u8]>>,
    wft: OnceCell<redb::Table<'t, (u64, u128), ()>>,
    tasks: OnceCell<redb::Table<'t, (u128, u64), &'static [u8]>>,
    queue: OnceCell<redb::Table<'t, (&'static str, u64, u128, u64), ()>>,
    timers: OnceCell<redb::Table<'t, (u64, u128, u64), ()>>,
    deadlines: OnceCell<redb::Table<'t, (u64, u128, u64), u8>>,
    nexus: OnceCell<redb::Table<'t, (u128, u64), &'static [u8]>>,
    nexus_queue: OnceCell<redb::Table<'t, (u64, u128, u64), ()>>,
    tokens: OnceCell<redb::Table<'t, (&'static str, &'static str), (u128, u64)>>,
    usage: OnceCell<redb::Table<'t, &'static str, (u64, u64)>>,
    /// Opened when first used: few writes touch it.
    pins: OnceCell<redb::Table<'t, u128, &'static str>>,
    tx: &'t redb::WriteTransaction,
    /// Whether any write method ran: a failed write that wrote nothing leaves the
    /// transaction as it found it.
    pub(super) wrote: bool,
}

impl<'t> RedbTx<'t> {
    pub(super) fn open(tx: &'t redb::WriteTransaction) -> Result<RedbTx<'t>, StoreError> {
        Ok(RedbTx {
            pins: OnceCell::new(),
            tx,
            wrote: false,
            workflows: OnceCell::new(),
            runs: OnceCell::new(),
            history: OnceCell::new(),
            wft: OnceCell::new(),
            tasks: OnceCell::new(),
            queue: OnceCell::new(),
            timers: OnceCell::new(),
            deadlines: OnceCell::new(),
            nexus: OnceCell::new(),
            nexus_queue: OnceCell::new(),
            tokens: OnceCell::new(),
            usage: OnceCell::new(),
        })
    }

    fn workflows(
        &self,
    ) -> Result<&redb::Table<'t, (&'static str, &'static str), u128>, StoreError> {
        lazy(&self.workflows, || self.tx.open_table(WORKFLOWS))
    }

    fn runs(&self) -> Result<&redb::Table<'t, u128, &'static [u8]>, StoreError> {
        lazy(&self.runs, || self.tx.open_table(RUNS))
    }

    fn history(&self) -> Result<&redb::Table<'t, (u128, u64), &'static [u8]>, StoreError> {
        lazy(&self.history, || self.tx.open_table(HISTORY))
    }

    fn wft(&self) -> Result<&redb::Table<'t, (u64, u128), ()>, StoreError> {
        lazy(&self.wft, || self.tx.open_table(WORKFLOW_TASKS))
    }

    fn tasks(&self) -> Result<&redb::Table<'t, (u128, u64), &'static [u8]>, StoreError> {
        lazy(&self.tasks, || self.tx.open_table(ACTIVITY_TASKS))
    }

    fn queue(&self) -> Result<&redb::Table<'t, (&'static str, u64, u128, u64), ()>, StoreError> {
        lazy(&self.queue, || self.tx.open_table(ACTIVITY_QUEUE))
    }

    fn timers(&self) -> Result<&redb::Table<'t, (u64, u128, u64), ()>, StoreError> {
        lazy(&self.timers, || self.tx.open_table(TIMERS))
    }

    fn deadlines(&self) -> Result<&redb::Table<'t, (u64, u128, u64), u8>, StoreError> {
        lazy(&self.deadlines, || self.tx.open_table(DEADLINES))
    }

    fn nexus(&self) -> Result<&redb::Table<'t, (u128, u64), &'static [u8]>, StoreError> {
        lazy(&self.nexus, || self.tx.open_table(NEXUS_TASKS))
    }

    fn nexus_queue(&self) -> Result<&redb::Table<'t, (u64, u128, u64), ()>, StoreError> {
        lazy(&self.nexus_queue, || self.tx.open_table(NEXUS_QUEUE))
    }

    fn tokens(
        &self,
    ) -> Result<&redb::Table<'t, (&'static str, &'static str), (u128, u64)>, StoreError> {
        lazy(&self.tokens, || self.tx.open_table(NEXUS_TOKENS))
    }

    fn usage(&self) -> Result<&redb::Table<'t, &'static str, (u64, u64)>, StoreError> {
        lazy(&self.usage, || self.tx.open_table(NS_USAGE))
    }

    fn run_component(&self, run: RunId) -> Result<Option<String>, StoreError> {
        pin_of(
            lazy(&self.pins, || self.tx.open_table(RUN_COMPONENTS))?,
            run,
        )
    }

    /// Creates every table (opening one in a write transaction creates it), so read
    /// transactions find them all.
    pub(super) fn create_tables(&self) -> Result<(), StoreError> {
        self.workflows()?;
        self.runs()?;
        self.history()?;
        self.wft()?;
        self.tasks()?;
        self.queue()?;
        self.timers()?;
        self.deadlines()?;
        self.nexus()?;
        self.nexus_queue()?;
        self.tokens()?;
        self.usage()?;
        lazy(&self.pins, || self.tx.open_table(RUN_COMPONENTS)).map(|_| ())
    }
}

/// A time-ordered key as a [`Due`].
fn due((at_ms, run, id): (u64, u128, u64)) -> Due {
    Due {
        at_ms,
        run: RunId(run),
        id: EventId(id),
    }
}

/// The key of a [`Due`].
fn key(d: Due) -> (u64, u128, u64) {
    (d.at_ms, d.run.0, d.id.0)
}

fn decode_event_of(run: RunId, bytes: &[u8]) -> Result<Event, StoreError> {
    history::decode_event(bytes).map_err(|source| StoreError::Encoding { run, source })
}

/// Records of a (run, event id)-keyed table, of `run` or of all runs.
fn records_of<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(u128, u64), &'static [u8]>,
    run: Option<RunId>,
) -> Result<Vec<(RunId, EventId, T)>, StoreError> {
    let records: Records<T> = match run {
        Some(r) => decode_records(table, (r.0, 0)..=(r.0, u64::MAX))?,
        None => decode_records(table, ..)?,
    };
    Ok(records
        .into_iter()
        .map(|((run, id), t)| (RunId(run), EventId(id), t))
        .collect())
}

/// The same reads on the tables of a read and of a write transaction.
macro_rules! read_tx {
    ($t:ty) => {
        impl ReadTx for $t {
            fn component_of(&self, run: RunId) -> Result<Option<String>, StoreError> {
                self.run_component(run)
            }

            fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError> {
                match self.runs()?.get(run.0).map_err(db_error)? {
                    None => Ok(None),
                    Some(v) => decode_run(v.value())
                        .map(Some)
                        .map_err(|source| StoreError::Encoding { run, source }),
                }
            }

            fn current_run(
                &self,
                namespace: &Namespace,
                id: &WorkflowId,
            ) -> Result<Option<RunId>, StoreError> {
                Ok(self
                    .workflows()?
                    .get((namespace.as_str(), id.0.as_str()))
                    .map_err(db_error)?
                    .map(|v| RunId(v.value())))
            }

            fn workflows(
                &self,
                namespace: Option<&Namespace>,
            ) -> Result<Vec<(WorkflowId, RunId)>, StoreError> {
                let mut out = Vec::new();
                for entry in self.workflows()?.iter().map_err(db_error)? {
                    let (k, v) = entry.map_err(db_error)?;
                    let (ns, id) = k.value();
                    if namespace.is_some_and(|n| n.as_str() != ns) {
                        continue;
                    }
                    out.push((WorkflowId(id.to_string()), RunId(v.value())));
                }
                Ok(out)
            }

            fn usage(&self, namespace: &Namespace) -> Result<NamespaceUsage, StoreError> {
                get_usage(self.usage()?, namespace)
            }

            fn event(&self, run: RunId, id: EventId) -> Result<Option<Event>, StoreError> {
                match self.history()?.get((run.0, id.0)).map_err(db_error)? {
                    None => Ok(None),
                    Some(v) => decode_event_of(run, v.value()).map(Some),
                }
            }

            fn events_after(&self, run: RunId, after: u64) -> Result<Vec<Event>, StoreError> {
                let mut events = Vec::new();
                for entry in self
                    .history()?
                    .range((run.0, after.saturating_add(1))..=(run.0, u64::MAX))
                    .map_err(db_error)?
                {
                    events.push(decode_event_of(run, entry.map_err(db_error)?.1.value())?);
                }
                Ok(events)
            }

            fn activity(
                &self,
                run: RunId,
                sched: EventId,
            ) -> Result<Option<ActivityTask>, StoreError> {
                get_record(self.tasks()?, run, sched.0)
            }

            fn activities(
                &self,
                run: Option<RunId>,
            ) -> Result<Vec<(RunId, EventId, ActivityTask)>, StoreError> {
                records_of(self.tasks()?, run)
            }

            fn nexus_task(
                &self,
                run: RunId,
                sched: EventId,
            ) -> Result<Option<NexusTask>, StoreError> {
                get_record(self.nexus()?, run, sched.0)
            }

            fn nexus_tasks(
                &self,
                run: Option<RunId>,
            ) -> Result<Vec<(RunId, EventId, NexusTask)>, StoreError> {
                records_of(self.nexus()?, run)
            }

            fn nexus_token(
                &self,
                namespace: &Namespace,
                token: &str,
            ) -> Result<Option<(RunId, EventId)>, StoreError> {
                Ok(self
                    .tokens()?
                    .get((namespace.as_str(), token))
                    .map_err(db_error)?
                    .map(|v| {
                        let (run, sched) = v.value();
                        (RunId(run), EventId(sched))
                    }))
            }

            fn due_workflow_tasks(
                &self,
                now_ms: u64,
                limit: usize,
            ) -> Result<Vec<Due>, StoreError> {
                self.wft()?
                    .range((0, 0)..=(now_ms, u128::MAX))
                    .map_err(db_error)?
                    .take(limit)
                    .map(|e| {
                        let (at_ms, run) = e.map_err(db_error)?.0.value();
                        Ok(due((at_ms, run, 0)))
                    })
                    .collect()
            }

            fn first_workflow_task(
                &self,
                after_ms: Option<u64>,
            ) -> Result<Option<u64>, StoreError> {
                Ok(match after_ms {
                    None => self
                        .wft()?
                        .first()
                        .map_err(db_error)?
                        .map(|(k, _)| k.value().0),
                    Some(a) => self
                        .wft()?
                        .range((a.saturating_add(1), 0)..)
                        .map_err(db_error)?
                        .next()
                        .transpose()
                        .map_err(db_error)?
                        .map(|(k, _)| k.value().0),
                })
            }

            fn due_activities(
                &self,
                queue_key: &str,
                now_ms: u64,
                limit: usize,
            ) -> Result<Vec<Due>, StoreError> {
                self.queue()?
                    .range((queue_key, 0, 0, 0)..=(queue_key, now_ms, u128::MAX, u64::MAX))
                    .map_err(db_error)?
                    .take(limit)
                    .map(|e| {
                        let (_, at_ms, run, id) = e.map_err(db_error)?.0.value();
                        Ok(due((at_ms, run, id)))
                    })
                    .collect()
            }

            fn activity_queues(&self) -> Result<Vec<QueueStats>, StoreError> {
                let mut out: Vec<QueueStats> = Vec::new();
                for e in self.queue()?.iter().map_err(db_error)? {
                    let entry = e.map_err(db_error)?;
                    let (qk, at_ms, _, _) = entry.0.value();
                    match out.last_mut() {
                        Some(q) if q.queue_key == qk => q.depth += 1,
                        // Keys sort by queue, then due time: the first of a queue is its oldest.
                        _ => out.push(QueueStats {
                            queue_key: qk.to_string(),
                            depth: 1,
                            first_due_ms: at_ms,
                        }),
                    }
                }
                Ok(out)
            }

            fn first_activity(&self, queue_key: &str) -> Result<Option<u64>, StoreError> {
                Ok(self
                    .queue()?
                    .range((queue_key, 0, 0, 0)..=(queue_key, u64::MAX, u128::MAX, u64::MAX))
                    .map_err(db_error)?
                    .next()
                    .transpose()
                    .map_err(db_error)?
                    .map(|(k, _)| k.value().1))
            }

            fn due_timers(&self, now_ms: u64) -> Result<Vec<Due>, StoreError> {
                self.timers()?
                    .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))
                    .map_err(db_error)?
                    .map(|e| Ok(due(e.map_err(db_error)?.0.value())))
                    .collect()
            }

            fn due_deadlines(
                &self,
                now_ms: u64,
            ) -> Result<Vec<(Due, Option<DeadlineKind>)>, StoreError> {
                self.deadlines()?
                    .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))
                    .map_err(db_error)?
                    .map(|e| {
                        let (k, v) = e.map_err(db_error)?;
                        Ok((due(k.value()), DeadlineKind::from_u8(v.value())))
                    })
                    .collect()
            }

            fn first_timer_and_deadline(&self) -> Result<(Option<u64>, Option<u64>), StoreError> {
                let t = self
                    .timers()?
                    .first()
                    .map_err(db_error)?
                    .map(|(k, _)| k.value().0);
                let d = self
                    .deadlines()?
                    .first()
                    .map_err(db_error)?
                    .map(|(k, _)| k.value().0);
                Ok((t, d))
            }

            fn due_nexus(&self, now_ms: u64, limit: usize) -> Result<Vec<Due>, StoreError> {
                self.nexus_queue()?
                    .range((0, 0, 0)..=(now_ms, u128::MAX, u64::MAX))
                    .map_err(db_error)?
                    .take(limit)
                    .map(|e| Ok(due(e.map_err(db_error)?.0.value())))
                    .collect()
            }

            fn first_nexus(&self) -> Result<Option<u64>, StoreError> {
                Ok(self
                    .nexus_queue()?
                    .first()
                    .map_err(db_error)?
                    .map(|(k, _)| k.value().0))
            }
        }
    };
}

read_tx!(RedbRead<'_>);
read_tx!(RedbTx<'_>);

impl Tx for RedbTx<'_> {
    fn put_run(&mut self, run: RunId, rec: &RunRecord) -> Result<(), StoreError> {
        self.wrote = true;
        let runs = open_mut(&mut self.runs, self.tx, RUNS)?;
        let usage = open_mut(&mut self.usage, self.tx, NS_USAGE)?;
        put_run(runs, usage, run, rec)
    }

    fn set_current_run(
        &mut self,
        namespace: &Namespace,
        id: &WorkflowId,
        run: RunId,
    ) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.workflows, self.tx, WORKFLOWS)?
            .insert((namespace.as_str(), id.0.as_str()), run.0)
            .map_err(db_error)?;
        Ok(())
    }

    fn put_event(&mut self, run: RunId, id: EventId, encoded: &[u8]) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.history, self.tx, HISTORY)?
            .insert((run.0, id.0), encoded)
            .map_err(db_error)?;
        Ok(())
    }

    fn queue_workflow_task(&mut self, due_ms: u64, run: RunId) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.wft, self.tx, WORKFLOW_TASKS)?
            .insert((due_ms, run.0), ())
            .map_err(db_error)?;
        Ok(())
    }

    fn dequeue_workflow_task(&mut self, due_ms: u64, run: RunId) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.wft, self.tx, WORKFLOW_TASKS)?
            .remove((due_ms, run.0))
            .map_err(db_error)?;
        Ok(())
    }

    fn put_activity(
        &mut self,
        run: RunId,
        sched: EventId,
        task: &ActivityTask,
    ) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.tasks, self.tx, ACTIVITY_TASKS)?
            .insert((run.0, sched.0), history::encode(task).as_slice())
            .map_err(db_error)?;
        Ok(())
    }

    fn remove_activity(&mut self, run: RunId, sched: EventId) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.tasks, self.tx, ACTIVITY_TASKS)?
            .remove((run.0, sched.0))
            .map_err(db_error)?;
        Ok(())
    }

    fn queue_activity(&mut self, queue_key: &str, at: Due) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.queue, self.tx, ACTIVITY_QUEUE)?
            .insert((queue_key, at.at_ms, at.run.0, at.id.0), ())
            .map_err(db_error)?;
        Ok(())
    }

    fn dequeue_activity(&mut self, queue_key: &str, at: Due) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.queue, self.tx, ACTIVITY_QUEUE)?
            .remove((queue_key, at.at_ms, at.run.0, at.id.0))
            .map_err(db_error)?;
        Ok(())
    }

    fn add_timer(&mut self, at: Due) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.timers, self.tx, TIMERS)?
            .insert(key(at), ())
            .map_err(db_error)?;
        Ok(())
    }

    fn remove_timer(&mut self, at: Due) -> Result<bool, StoreError> {
        self.wrote = true;
        Ok(open_mut(&mut self.timers, self.tx, TIMERS)?
            .remove(key(at))
            .map_err(db_error)?
            .is_some())
    }

    fn add_deadline(&mut self, at: Due, kind: DeadlineKind) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.deadlines, self.tx, DEADLINES)?
            .insert(key(at), kind.to_u8())
            .map_err(db_error)?;
        Ok(())
    }

    fn remove_deadline(&mut self, at: Due) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.deadlines, self.tx, DEADLINES)?
            .remove(key(at))
            .map_err(db_error)?;
        Ok(())
    }

    fn put_nexus_task(
        &mut self,
        run: RunId,
        sched: EventId,
        task: &NexusTask,
    ) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.nexus, self.tx, NEXUS_TASKS)?
            .insert((run.0, sched.0), history::encode(task).as_slice())
            .map_err(db_error)?;
        Ok(())
    }

    fn remove_nexus_task(&mut self, run: RunId, sched: EventId) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.nexus, self.tx, NEXUS_TASKS)?
            .remove((run.0, sched.0))
            .map_err(db_error)?;
        Ok(())
    }

    fn queue_nexus(&mut self, at: Due) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.nexus_queue, self.tx, NEXUS_QUEUE)?
            .insert(key(at), ())
            .map_err(db_error)?;
        Ok(())
    }

    fn dequeue_nexus(&mut self, at: Due) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.nexus_queue, self.tx, NEXUS_QUEUE)?
            .remove(key(at))
            .map_err(db_error)?;
        Ok(())
    }

    fn put_nexus_token(
        &mut self,
        namespace: &Namespace,
        token: &str,
        run: RunId,
        sched: EventId,
    ) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.tokens, self.tx, NEXUS_TOKENS)?
            .insert((namespace.as_str(), token), (run.0, sched.0))
            .map_err(db_error)?;
        Ok(())
    }

    fn remove_nexus_token(&mut self, namespace: &Namespace, token: &str) -> Result<(), StoreError> {
        self.wrote = true;
        open_mut(&mut self.tokens, self.tx, NEXUS_TOKENS)?
            .remove((namespace.as_str(), token))
            .map_err(db_error)?;
        Ok(())
    }

    fn put_component_of(&mut self, run: RunId, digest: &str) -> Result<(), StoreError> {
        self.wrote = true;
        lazy(&self.pins, || self.tx.open_table(RUN_COMPONENTS))?;
        self.pins
            .get_mut()
            .expect("opened above")
            .insert(run.0, digest)
            .map_err(db_error)?;
        Ok(())
    }
}

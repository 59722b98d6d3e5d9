//! A weft database file with no host running on it, for tools (the `weft` command line).
//!
//! Reads (`describe`, `history`, `list`, `query`) open the file read-only every time and never
//! write it, so they work while a host keeps writing: a file a crash left unclean, or an earlier
//! release wrote, is read through a recovered copy ([`Offline::read_note`] says so). Changes
//! (`signal`, `signal_with_start`, `cancel`, `terminate`, `reset`, `update`) open it for
//! writing, so they need the file not to be held by a host; a host started later carries on
//! from what they recorded. Nothing here creates a database: a missing or empty file is
//! refused, and a refused change leaves the file as it was (the workflow is checked read-only
//! before the file is opened for writing).

use crate::api::{HostError, WorkflowDescription};
use crate::clock::SystemClock;
use crate::components::Components;
use crate::history::{DEFAULT_TASK_QUEUE, Event, EventKind, Payload};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use crate::limits::Limits;
use crate::replay::{QueryRequest, Served, UpdateRequest, UpdateState};
use crate::sandbox::Sandbox;
use crate::store::{
    ReadOnlyStore, ResetRequest, RunRecord, StartQuota, StartRequest, Store, StoreError,
};
use crate::workflow_task::{TaskEnv, TaskOutcome, now_ms, query_history, run_update_task};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One namespace of a database file no host is running on.
///
/// ```no_run
/// let db = weft::Offline::new("orders.redb", "default")?;
/// let d = db.describe("order-1")?;
/// println!("{} is {:?}", d.workflow_id, d.status);
/// db.signal("order-1", "approve", weft::Payload::json(&serde_json::json!(true)))?;
/// # Ok::<(), weft::HostError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Offline {
    path: PathBuf,
    namespace: Namespace,
}

/// What became of an update sent with [`Offline::update`].
///
/// ```no_run
/// use weft::{Offline, OfflineUpdate, Payload};
/// let db = Offline::new("orders.redb", "default")?;
/// let input = Payload::json(&serde_json::json!(9_900));
/// match db.update("trip-7", "set_amount", input, "approval.wasm", None)? {
///     OfflineUpdate::Completed(result) => println!("result: {}", result.to_json()),
///     OfflineUpdate::Accepted { update_id } => println!("{update_id} waits for a host"),
/// }
/// # Ok::<(), weft::HostError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum OfflineUpdate {
    /// The handler finished in the same task: its result.
    Completed(Payload),
    /// Accepted; the handler waits for work a host will run.
    Accepted {
        /// The update id, to find its outcome in the history later.
        update_id: String,
    },
}

impl Offline {
    /// The workflows of `namespace` in the database file at `path` (not opened yet).
    pub fn new(path: impl AsRef<Path>, namespace: &str) -> Result<Offline, HostError> {
        Ok(Offline {
            path: path.as_ref().to_path_buf(),
            namespace: Namespace::new(namespace).map_err(HostError::InvalidArgument)?,
        })
    }

    fn cannot_open(&self, source: StoreError) -> HostError {
        HostError::CannotOpen {
            path: self.path.clone(),
            reason: Box::new(source),
        }
    }

    fn reader(&self) -> Result<ReadOnlyStore, HostError> {
        ReadOnlyStore::open(&self.path).map_err(|e| self.cannot_open(e))
    }

    fn writer(&self) -> Result<Store, HostError> {
        Store::open_existing(&self.path, now_ms()).map_err(|e| self.cannot_open(e))
    }

    fn id(workflow_id: &str) -> WorkflowId {
        WorkflowId(workflow_id.to_string())
    }

    /// Why reads come from a recovered copy (the file is unclean or of an earlier release),
    /// or `None` when they read the file itself.
    pub fn read_note(&self) -> Result<Option<&'static str>, HostError> {
        Ok(self.reader()?.copy_reason())
    }

    /// The current run of `workflow_id`, with the chain of runs that led to it.
    pub fn describe(&self, workflow_id: &str) -> Result<WorkflowDescription, HostError> {
        let store = self.reader()?;
        let (run, rec, _) = store.workflow(&self.namespace, &Self::id(workflow_id))?;
        Ok(WorkflowDescription::new(run, &rec).with_chain(&rec, |r| store.run(r).ok()))
    }

    /// The history of `workflow_id`'s current run, and that run's id.
    pub fn history(&self, workflow_id: &str) -> Result<(RunId, Vec<Event>), HostError> {
        let (run, _, events) = self
            .reader()?
            .workflow(&self.namespace, &Self::id(workflow_id))?;
        Ok((run, events))
    }

    /// Every workflow of the namespace (of every namespace with `all`), with its current run.
    pub fn list(&self, all: bool) -> Result<Vec<WorkflowDescription>, HostError> {
        let listed = self.reader()?.list((!all).then_some(&self.namespace))?;
        Ok(listed
            .iter()
            .map(|(_, run, rec)| WorkflowDescription::new(*run, rec))
            .collect())
    }

    /// Answers a query by replaying the workflow's history with `component`; records nothing.
    pub fn query(
        &self,
        workflow_id: &str,
        name: &str,
        input: Payload,
        component: impl AsRef<Path>,
    ) -> Result<Payload, HostError> {
        let (run, rec, history) = self
            .reader()?
            .workflow(&self.namespace, &Self::id(workflow_id))?;
        let limits = Limits::default();
        let sandbox =
            Sandbox::new(limits.clone()).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let compiled = sandbox.compile_file(&rec.workflow_type, component.as_ref())?;
        let query = QueryRequest {
            name: name.to_string(),
            input,
        };
        let served = served_by(&history);
        match query_history(
            &sandbox, &compiled, &limits, &served, run, &rec, &history, query,
        ) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(f)) => Err(HostError::QueryFailed(f.to_string())),
            Err(msg) => Err(HostError::QueryFailed(msg)),
        }
    }

    /// The current run of `workflow_id`, refused unless it is open (read-only).
    fn check_running(&self, workflow_id: &str) -> Result<RunRecord, HostError> {
        let (run, rec) = self
            .reader()?
            .current_run(&self.namespace, &Self::id(workflow_id))?;
        ensure_running(workflow_id, run, &rec)?;
        Ok(rec)
    }

    /// The current run of `workflow_id` in the writable `store`, refused unless it is open.
    fn running(&self, store: &Store, workflow_id: &str) -> Result<RunId, HostError> {
        let (run, rec) = store.current_run(&self.namespace, &Self::id(workflow_id))?;
        ensure_running(workflow_id, run, &rec)?;
        Ok(run)
    }

    /// Records a signal for the running workflow; returns its run.
    pub fn signal(
        &self,
        workflow_id: &str,
        name: &str,
        input: Payload,
    ) -> Result<RunId, HostError> {
        self.check_running(workflow_id)?;
        let store = self.writer()?;
        let run = self.running(&store, workflow_id)?;
        store.signal(run, name, input, now_ms())?;
        Ok(run)
    }

    /// Signal-with-start: signals the running workflow, or starts it as `workflow_type` with
    /// `start_input` and the signal. Returns the run and whether it was started.
    pub fn signal_with_start(
        &self,
        workflow_id: &str,
        workflow_type: &str,
        start_input: Payload,
        name: &str,
        input: Payload,
    ) -> Result<(RunId, bool), HostError> {
        let req = StartRequest {
            namespace: Some(self.namespace.clone()),
            workflow_id: Self::id(workflow_id),
            workflow_type: workflow_type.to_string(),
            input: start_input,
            random_seed: rand::random(),
            options: Default::default(),
            id_reuse_policy: Default::default(),
            signal: Some((name.to_string(), input)),
            component: None,
        };
        let store = self.writer()?;
        Ok(store.start_workflow_with(&req, now_ms(), StartQuota::UNLIMITED, None)?)
    }

    /// Requests cancellation of the running workflow; returns its run.
    pub fn cancel(&self, workflow_id: &str, reason: &str) -> Result<RunId, HostError> {
        self.check_running(workflow_id)?;
        let store = self.writer()?;
        let run = self.running(&store, workflow_id)?;
        store.request_cancel(run, reason, now_ms())?;
        Ok(run)
    }

    /// Terminates the running workflow at once; returns its run.
    pub fn terminate(&self, workflow_id: &str, reason: &str) -> Result<RunId, HostError> {
        self.check_running(workflow_id)?;
        let store = self.writer()?;
        let run = self.running(&store, workflow_id)?;
        store.terminate(run, reason, now_ms())?;
        Ok(run)
    }

    /// Resets the workflow to the WorkflowTaskCompleted `event` (default: the last good task):
    /// its current run is terminated if open and a new run gets the history up to that task.
    /// Returns the new run.
    pub fn reset(
        &self,
        workflow_id: &str,
        event: Option<u64>,
        reapply_signals: bool,
        reason: &str,
    ) -> Result<RunId, HostError> {
        let id = Self::id(workflow_id);
        self.reader()?.current_run(&self.namespace, &id)?;
        let store = self.writer()?;
        let req = ResetRequest {
            namespace: self.namespace.clone(),
            workflow_id: id,
            event_id: event.map(EventId),
            reapply_signals,
            reason: reason.to_string(),
        };
        Ok(store.reset(&req, now_ms())?)
    }

    /// Sends an update: its validator runs now with `component`; an accepted update is
    /// recorded, with its result if the handler finished in the same task. `update_id`
    /// defaults to a random one (a repeated id is the same update).
    pub fn update(
        &self,
        workflow_id: &str,
        name: &str,
        input: Payload,
        component: impl AsRef<Path>,
        update_id: Option<String>,
    ) -> Result<OfflineUpdate, HostError> {
        // The component is compiled before the file is opened for writing.
        let checked = self.check_running(workflow_id)?;
        let limits = Limits::default();
        let sandbox =
            Sandbox::new(limits.clone()).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let compiled = sandbox.compile_file(&checked.workflow_type, component.as_ref())?;
        let store = self.writer()?;
        let run = self.running(&store, workflow_id)?;
        let (rec, history) = store.load_run(run)?;
        if rec.workflow_type != checked.workflow_type {
            return Err(HostError::InvalidArgument(format!(
                "workflow {workflow_id} changed while the update was prepared; try again"
            )));
        }
        let mut components = Components::default();
        components.insert(&rec.workflow_type, compiled);
        let served = served_by(&history);
        let env = TaskEnv {
            store: &store,
            sandbox: &sandbox,
            components: &components,
            pins: false,
            limits: &limits,
            served: &served,
            cache: None,
            probe: None,
            clock: &SystemClock,
            eager: None,
        };
        let update_id = update_id.unwrap_or_else(|| RunId::random().to_string());
        let update = UpdateRequest {
            id: update_id.clone(),
            name: name.to_string(),
            input,
        };
        match run_update_task(&env, run, update)? {
            (_, UpdateState::Rejected(f)) => Err(HostError::UpdateRejected(f)),
            (TaskOutcome::Failed { message, .. }, _) => Err(HostError::WorkflowTaskFailed(message)),
            (TaskOutcome::Completed(_), UpdateState::Accepted) => {
                let (_, history) = store.load_run(run)?;
                let done = history.iter().find_map(|e| match &e.kind {
                    EventKind::WorkflowExecutionUpdateCompleted {
                        update_id: u,
                        result,
                        failure,
                    } if *u == update_id => Some((result.clone(), failure.clone())),
                    _ => None,
                });
                match done {
                    Some((_, Some(f))) => Err(HostError::UpdateFailed(f)),
                    Some((r, None)) => Ok(OfflineUpdate::Completed(r.unwrap_or_default())),
                    None => Ok(OfflineUpdate::Accepted { update_id }),
                }
            }
            (other, state) => Err(HostError::InvalidArgument(format!(
                "the update was not delivered ({other:?}, {state:?}); is the workflow waiting?"
            ))),
        }
    }
}

fn ensure_running(workflow_id: &str, run: RunId, rec: &RunRecord) -> Result<(), HostError> {
    if rec.status.is_closed() {
        return Err(HostError::NotRunning(format!(
            "workflow {workflow_id} is not running: its current run {run} is {:?}",
            rec.status
        )));
    }
    Ok(())
}

/// Task queues and Nexus operations the history uses: what a replay may name again.
fn served_by(history: &[Event]) -> Arc<Served> {
    let mut served = Served {
        task_queues: HashSet::from([DEFAULT_TASK_QUEUE.to_string()]),
        nexus_operations: HashSet::new(),
        ..Served::default()
    };
    for e in history {
        match &e.kind {
            EventKind::ActivityTaskScheduled { task_queue, .. } => {
                served.task_queues.insert(task_queue.clone());
            }
            EventKind::NexusOperationScheduled {
                endpoint,
                service,
                operation,
                ..
            } => {
                served.nexus_operations.insert((
                    endpoint.clone(),
                    service.clone(),
                    operation.clone(),
                ));
            }
            _ => {}
        }
    }
    Arc::new(served)
}

//! What a Workflow Task gives the replay besides its history (the namespace's served queues
//! and operations, a new update or query, facts about the run) and why the replay stops the
//! guest early.

use crate::strict::ReplayMode;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use weft_core::command::Command;
use weft_core::history::{Event, Failure, Payload};
use weft_core::ids::{RunId, WorkflowId};

/// Why a task stopped running guest code early. The wasm glue raises it as a trap to unwind
/// the guest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Interrupt {
    /// The workflow waits for something not yet in the history: the task ends with its
    /// commands.
    #[error("workflow is waiting for new events")]
    Suspend,
    /// The code no longer matches its history.
    #[error("non-determinism: {0}")]
    NonDeterminism(String),
    /// A limit was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The history would pass its limit: the run is terminated, as Temporal does.
    #[error("{0}")]
    HistoryLimit(String),
    /// The guest misused an import (unknown handle, a query handler scheduling work).
    #[error("invalid call: {0}")]
    InvalidCall(String),
    /// The code closed the run (returned or continued as new) while recorded messages it
    /// could see were never delivered to it: the close is refused, the task fails and is
    /// retried.
    #[error("unhandled messages: {0}")]
    UnhandledMessages(String),
    /// The workflow called `continue-as-new`: the task ends with its commands.
    #[error("the workflow continued as new")]
    ContinuedAsNew,
    /// The query was answered: the query's run of the code ends.
    #[error("the query was answered")]
    QueryAnswered,
    /// A cached instance was evicted from the sticky cache.
    #[error("evicted from the sticky cache")]
    Evicted,
    /// A cached instance cannot continue on the new history (another task changed it); the
    /// task replays from the start instead.
    #[error("cached instance is stale: {0}")]
    Stale(String),
}

/// What the host tells a suspended cached instance.
pub enum Resume {
    /// Continue, in a new task, with what the run's history gained since the instance's last
    /// task.
    Continue {
        /// The events after the last one the instance has seen.
        tail: Arc<[Event]>,
        /// Attempt of the task.
        attempt: u32,
        /// When the task started.
        started_ms: u64,
        /// `next_event_id` of the run right after the instance's last commit.
        known_next: u64,
    },
    /// Stop: the instance is evicted.
    Evict,
}

/// The meeting point of a cached instance and the host. The instance runs on a fiber (an
/// async call into wasm) that the host polls: when the code waits for something new, the
/// instance leaves the task's commands here and its `wait-any` stays pending; the host takes
/// the commands, and later leaves the next task (or an eviction) here and polls the instance
/// again. No thread is parked per instance.
#[derive(Clone, Default)]
pub struct StickyLink(Arc<Mutex<LinkState>>);

#[derive(Default)]
struct LinkState {
    suspended: Option<Vec<Command>>,
    resume: Option<Resume>,
}

impl StickyLink {
    /// A new link, with nothing left on it.
    pub fn new() -> StickyLink {
        StickyLink::default()
    }

    /// The commands the instance left when it suspended, if it did since the last call.
    pub fn take_suspended(&self) -> Option<Vec<Command>> {
        self.0.lock().expect("sticky link lock").suspended.take()
    }

    /// Leaves the next task (or an eviction) for the instance; it sees it when polled.
    pub fn resume(&self, next: Resume) {
        self.0.lock().expect("sticky link lock").resume = Some(next);
    }

    pub(crate) fn suspend(&self, commands: Vec<Command>) {
        let mut state = self.0.lock().expect("sticky link lock");
        state.suspended = Some(commands);
        state.resume = None;
    }

    /// Pending until the host leaves the next task with [`StickyLink::resume`]. It registers
    /// no waker: the host polls the instance itself right after leaving the task.
    pub(crate) fn next(&self) -> impl std::future::Future<Output = Resume> + Send + '_ {
        std::future::poll_fn(
            |_| match self.0.lock().expect("sticky link lock").resume.take() {
                Some(next) => std::task::Poll::Ready(next),
                None => std::task::Poll::Pending,
            },
        )
    }
}

/// A new update delivered to the workflow in this task (not yet in the history).
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateRequest {
    /// Update id.
    pub id: String,
    /// Handler name.
    pub name: String,
    /// Input.
    pub input: Payload,
}

/// A query run against the workflow's state.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryRequest {
    /// Handler name.
    pub name: String,
    /// Input.
    pub input: Payload,
}

/// What a task delivers to the workflow besides its history.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Extra {
    /// Nothing: a normal Workflow Task.
    #[default]
    None,
    /// A new update, delivered when the code waits with nothing left in the history.
    Update(UpdateRequest),
    /// A query, answered from the state the code reaches at the end of the history.
    Query(QueryRequest),
}

/// How a new update fared in this task.
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateState {
    /// Not delivered yet (the code never waited at the end of the history).
    Pending,
    /// Delivered; the validator runs.
    Validating,
    /// Accepted.
    Accepted,
    /// Rejected with this failure.
    Rejected(Failure),
}

/// Facts about the run beyond its history, for `info`.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// Execution attempt.
    pub attempt: u32,
    /// The run this one continues.
    pub continued_from: Option<RunId>,
    /// The parent's workflow id.
    pub parent_workflow_id: Option<WorkflowId>,
}

/// What the workflow's namespace serves on this host: commands naming anything else fail the
/// task.
#[derive(Clone, Debug, Default)]
pub struct Served {
    /// Activity task queues.
    pub task_queues: HashSet<String>,
    /// The namespace's activities and Nexus operations run in remote workers that poll by
    /// task queue and endpoint: any task queue and any Nexus operation is served, not only
    /// `task_queues` and `nexus_operations`.
    pub remote_workers: bool,
    /// Nexus operations as (endpoint, service, operation).
    pub nexus_operations: HashSet<(String, String, String)>,
    /// Replay mode of the workflow types not in `replay_modes`.
    pub replay_mode: ReplayMode,
    /// Replay mode per workflow type, overriding `replay_mode`.
    pub replay_modes: HashMap<String, ReplayMode>,
}

impl Served {
    /// The replay mode of `workflow_type`.
    pub fn replay_mode_of(&self, workflow_type: &str) -> ReplayMode {
        self.replay_modes
            .get(workflow_type)
            .copied()
            .unwrap_or(self.replay_mode)
    }
}

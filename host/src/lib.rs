//! weft: a durable-execution host. Workflows are WebAssembly components replayed from an event
//! history in redb; activities are native async Rust run from a persisted queue.
//!
//! Start with [`HostBuilder`]: register workflow components and activities, open a database
//! file, then start workflows and wait for their results. See ARCHITECTURE.md for the map.

pub mod activity;
pub mod api;
pub mod fair;
pub use weft_core::{clock, command, history, ids, limits};
pub mod nexus;
mod offline;
pub use weft_replay as replay;
pub use weft_wasm::{sandbox, sticky, wasi};
pub mod store;
pub mod workflow_task;

pub use activity::{ActivityContext, ActivityError};
pub use api::{
    Client, Host, HostBuilder, HostError, NamespaceBuilder, Quotas, ResetOptions, StartOptions,
    WorkflowDescription, WorkflowOutcome,
};
pub use history::{Event, EventKind, Failure, IdReusePolicy, Payload, RetryPolicy};
pub use ids::{EventId, Namespace, RunId, WorkflowId};
pub use limits::Limits;
pub use nexus::{NexusContext, NexusError, NexusStart};
pub use offline::{Offline, OfflineUpdate};
pub use replay::ReplayMode;
pub use store::NexusOutcome;
pub use store::{NamespaceUsage, RunStatus};

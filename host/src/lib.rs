//! weft: a durable-execution host. Workflows are WebAssembly components replayed from an event
//! history in redb; activities are native async Rust run from a persisted queue.
//!
//! Start with [`HostBuilder`]: register workflow components and activities, open a database
//! file, then start workflows and wait for their results through a [`Client`]. [`Offline`]
//! reads and changes a database no host is running on (the `weft` command line uses it).
//!
//! ```no_run
//! use weft::{ActivityContext, ActivityError, HostBuilder, WorkflowOutcome};
//!
//! # async fn run() -> Result<(), weft::HostError> {
//! let host = HostBuilder::new("orders.redb")
//!     .workflow_file("order", "order.wasm")
//!     .activity("charge", |_ctx: ActivityContext, cents: u64| async move {
//!         Ok::<_, ActivityError>(format!("charged {cents}"))
//!     })
//!     .start()
//!     .await?;
//! host.start_workflow("order", "order-1", serde_json::json!({"cents": 4200}))
//!     .await?;
//! match host.result("order-1").await? {
//!     WorkflowOutcome::Completed(value) => println!("done: {value}"),
//!     other => println!("ended: {other:?}"),
//! }
//! host.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! This crate is the embedding facade: its modules are private and the names below are its
//! whole API, with the deterministic simulator in [`simulate`]. The vocabulary (`weft-core`), the replay (`weft-replay`), the sandbox
//! (`weft-wasm`), the rules (`weft-engine`) and the redb storage (`weft-store-redb`) are crates
//! of their own; see ARCHITECTURE.md for the map.

mod activity;
mod api;
mod components;
mod fair;
mod nexus;
mod offline;
pub mod simulate;
mod store;
mod telemetry;
mod workflow_task;

use weft_core::{clock, command, ids, limits};
use weft_replay as replay;
use weft_wasm::{sandbox, sticky};

/// The event vocabulary: [`Event`], [`EventKind`] and the types their fields use
/// (policies, causes, options), with the versioned encoding.
///
/// ```
/// use weft::history::{self, EventKind, Payload};
/// let done = EventKind::WorkflowExecutionCompleted { result: Payload::json(&"ok".into()) };
/// let bytes = history::encode(&done); // the format version, then postcard
/// assert_eq!(bytes[0], history::FORMAT_VERSION);
/// assert_eq!(history::decode::<EventKind>(&bytes), Ok(done));
/// ```
pub use weft_core::history;

pub use activity::{ActivityContext, ActivityError};
pub use api::{
    ActivityTask, Client, Divergence, Host, HostBuilder, HostError, NamespaceBuilder, NexusTask,
    NexusTaskResult, QueueDepth, Quotas, ResetOptions, StartOptions, VersionCheck,
    WorkflowDescription, WorkflowOutcome,
};
pub use history::{Event, EventKind, Failure, IdReusePolicy, Payload, RetryPolicy};
pub use ids::{EventId, Namespace, RunId, WorkflowId};
pub use limits::Limits;
pub use nexus::{NexusContext, NexusError, NexusStart};
pub use offline::{Offline, OfflineUpdate};
pub use replay::ReplayMode;
pub use sticky::CacheStats;
pub use store::{CommitStats, NamespaceUsage, NexusOutcome, RunStatus};
pub use weft_core::clock::{Clock, ManualClock, SystemClock};

//! The host library API: build a host from workflow components and activities, start
//! workflows, wait for results, inspect them. Also the background loops that run Workflow
//! Tasks, activities, Nexus tasks and timers.
//!
//! This module owns scheduling (what runs when); `workflow_task`, `activity` and `store` own
//! what a task does and what it commits. The parts:
//!
//! - `error`: [`HostError`].
//! - `options`: [`StartOptions`] and [`ResetOptions`].
//! - `builder`: [`HostBuilder`], [`NamespaceBuilder`], [`Quotas`]; starting a host.
//! - `host`: [`Host`] and the state its loops and clients share.
//! - `client`: [`Client`], the per-namespace API.
//! - `describe`: [`WorkflowDescription`], [`WorkflowOutcome`], [`outcome_of`].
//! - `loops`: the background loops (Workflow Tasks, activity and Nexus queues, timers).
//! - `wakeups`: which loops a commit wakes.

mod builder;
mod client;
mod describe;
mod error;
mod host;
mod loops;
mod namespaces;
mod versions;
pub use namespaces::QueueDepth;
mod options;
mod remote;
mod shutdown;
mod wakeups;

pub use builder::{HostBuilder, NamespaceBuilder, Quotas};
pub use client::Client;
pub use describe::{WorkflowDescription, WorkflowOutcome, outcome_of};
pub use error::HostError;
pub use host::Host;
pub use options::{ResetOptions, StartOptions};
pub use remote::{ActivityTask, NexusTask, NexusTaskResult};
pub use versions::{Divergence, VersionCheck};

//! weft's storage on a redb file: the tables, their schema version and the migration of older
//! ones, the storage traits of `weft-engine` on them ([`RedbBackend`]), and read-only access
//! for the command line ([`ReadOnlyStore`]). [`open`] gives the engine's `Store` on a file.
//! This crate makes no workflow decision: those are the engine's.
//!
//! Tables:
//! - `meta`: schema version.
//! - `ns_workflows`: (namespace, workflow id) -> current run id.
//! - `ns_usage`: namespace -> (open runs, stored history bytes), kept by every run update.
//! - `runs`: run id -> [`RunRecord`].
//! - `history`: (run id, event id) -> [`Event`].
//! - `workflow_tasks`: (due ms, run id) -> (): runs with a Workflow Task to process.
//! - `activity_tasks`: (run id, scheduled event id) -> [`ActivityTask`].
//! - `activity_queues`: ("namespace/queue", visible at ms, run id, scheduled event id) -> ():
//!   when each activity task may next be handed out (first attempt, retry, or lease expiry).
//! - `timers`: (fire at ms, run id, started event id) -> ().
//! - `deadlines`: (due ms, run id, scheduled event id) -> kind: activity schedule-to-close and
//!   schedule-to-start, Nexus schedule-to-close, run timeout (event id 0) and execution
//!   timeout (event id 1).
//! - `nexus_tasks`: (run id, scheduled event id) -> [`NexusTask`].
//! - `nexus_queue`: (visible at ms, run id, scheduled event id) -> (): Nexus starts and cancels
//!   to deliver.
//! - `nexus_tokens`: (namespace, operation token) -> (run id, scheduled event id).
//!

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weft_core::history::{
    self, EncodingError, Event, Failure, IdReusePolicy, Payload, RetryPolicy, WorkflowOptions,
};
use weft_core::ids::{EventId, Namespace, RunId, WorkflowId};
use weft_engine::{
    ActivityTask, Backend, Batch, DeadlineKind, Due, JobFailed, NamespaceUsage, NexusCallback,
    NexusTask, PendingWorkflowTask, QueueStats, ReadFn, ReadTx, RunRecord, RunStatus, Store,
    StoreError, Tx, WriteFn, current_run_of, queue_key, run_of,
};

mod backend;
mod formats;
mod read_only;
mod tables;
mod tx;

pub use backend::{FileSharing, RedbBackend};
use backend::{builder, check_schema, no_database, open_error};
use formats::*;
pub use read_only::ReadOnlyStore;
pub use tables::SCHEMA_VERSION;
use tables::*;

/// Opens the weft database at `path`, creating an empty one if the file does not exist, and
/// the engine's store on it.
///
/// Fails with [`StoreError::InUse`] when another process has it open,
/// [`StoreError::NewerSchema`] for a database of a newer release and
/// [`StoreError::Corrupt`] for a file that is not a readable redb database. Activity
/// leases held by an earlier process are released: it is gone, since only one process may
/// open the file for writing.
pub fn open(path: impl AsRef<Path>, now_ms: u64) -> Result<Store, StoreError> {
    open_shared(path, now_ms, FileSharing::LiveReaders)
}

/// [`open`], with the file shared with readers in other processes (the default) or locked
/// exclusively (one sync per commit instead of two).
pub fn open_shared(
    path: impl AsRef<Path>,
    now_ms: u64,
    sharing: FileSharing,
) -> Result<Store, StoreError> {
    let path = path.as_ref();
    Store::with_backend(
        Arc::new(RedbBackend::open_shared(path, true, sharing)?),
        path,
        now_ms,
    )
}

/// [`open`] for a database that must already exist: a missing or empty file is refused with
/// [`StoreError::NoDatabase`] and left as it is (nothing is created). For commands that change
/// an existing database, such as the `weft` command line's.
pub fn open_existing(path: impl AsRef<Path>, now_ms: u64) -> Result<Store, StoreError> {
    let path = path.as_ref();
    Store::with_backend(Arc::new(RedbBackend::open(path, false)?), path, now_ms)
}

/// A redb error as the engine's [`StoreError::Db`].
fn db_error(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

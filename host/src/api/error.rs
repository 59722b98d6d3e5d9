//! [`HostError`], the error of every host API call. It only names and wraps the errors of the
//! store and the sandbox; it decides nothing about retries.

use crate::history::Failure;
use crate::sandbox::AdmissionError;
use crate::store::StoreError;

/// Errors of the host API.
///
/// ```
/// use weft::{HostError, Offline};
/// // A namespace name with a space is refused before any file is opened.
/// let err = Offline::new("orders.redb", "acme prod").unwrap_err();
/// assert!(matches!(err, HostError::InvalidArgument(_)));
/// assert!(err.to_string().starts_with("invalid argument: invalid namespace name"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The database reported an error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A database file could not be opened (tools reading or changing a file no host holds).
    #[error("cannot open {}: {reason}", path.display())]
    CannotOpen {
        /// The file.
        path: std::path::PathBuf,
        /// Why (boxed: a store error is large, and this one is rare).
        reason: Box<StoreError>,
    },
    /// The workflow's current run is closed, so it cannot take the change.
    #[error("{0}")]
    NotRunning(String),
    /// A workflow component was refused.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// Start was asked for a type no component was registered for.
    #[error("unknown workflow type '{0}'; registered types: {1}")]
    UnknownWorkflowType(String, String),
    /// An input or result was too large.
    #[error("{what} is {size} bytes, above the payload limit of {limit} bytes")]
    PayloadTooLarge {
        /// What was too large.
        what: String,
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A replay did not reach the recorded end.
    #[error("replay diverged from the recorded history: {0}")]
    ReplayDiverged(String),
    /// The engine could not be set up.
    #[error("engine setup failed: {0}")]
    Engine(String),
    /// The API key is not valid on this host.
    #[error("the API key is not valid on this host")]
    Unauthorized,
    /// No namespace of this name is configured on this host.
    #[error("namespace '{0}' is not configured on this host")]
    UnknownNamespace(String),
    /// No pending asynchronous Nexus operation has this token.
    #[error("no pending Nexus operation with token '{0}' in this namespace")]
    UnknownNexusOperation(String),
    /// No current activity attempt has this task token in this namespace: the attempt timed
    /// out, was completed, or its run closed. A remote worker stops working on it.
    #[error("no current activity attempt with task token '{0}' in this namespace")]
    UnknownActivityTask(String),
    /// No current Nexus task delivery has this task token in this namespace: it was delivered
    /// again meanwhile, or the operation ended.
    #[error("no current Nexus task with task token '{0}' in this namespace")]
    UnknownNexusTask(String),
    /// The workflow's validator rejected the update; nothing was recorded.
    #[error("update rejected: {0}")]
    UpdateRejected(Failure),
    /// The update's handler failed.
    #[error("update failed: {0}")]
    UpdateFailed(Failure),
    /// The query could not be answered, or its handler failed.
    #[error("query failed: {0}")]
    QueryFailed(String),
    /// The Workflow Task that was to deliver an update failed (the workflow's code is broken
    /// for its history); the execution stays open.
    #[error("the workflow task failed: {0}")]
    WorkflowTaskFailed(String),
}

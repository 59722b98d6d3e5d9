//! [`Failure`], the error of workflow code and of the operations it waits on, the crate's
//! [`Result`], and the JSON encoding and decoding of inputs, results and outcomes, whose errors
//! are reported as failures.

use crate::wit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// An error a workflow returns or an activity failed with.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Short machine-readable type, for example `CardDeclined`.
    pub error_type: String,
    /// Human-readable message.
    pub message: String,
    /// Optional structured details.
    pub details: Option<serde_json::Value>,
    /// For activity failures: the activity was not retried because of this error.
    pub non_retryable: bool,
}

impl Failure {
    /// A failure of type `error_type`.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
            non_retryable: false,
        }
    }

    /// A failure marked non-retryable.
    pub fn non_retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            non_retryable: true,
            ..Failure::new(error_type, message)
        }
    }

    /// The error a workflow returns to end as canceled after a cancel request
    /// (WorkflowExecutionCanceled); the same type an operation canceled on its behalf gives.
    pub fn canceled(message: impl Into<String>) -> Self {
        Failure::non_retryable("Canceled", message)
    }

    /// True for a `Canceled` failure.
    pub fn is_canceled(&self) -> bool {
        self.error_type == "Canceled"
    }

    /// Attaches structured details.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.details = serde_json::to_value(details).ok();
        self
    }

    pub(crate) fn from_wit(f: wit::Failure) -> Self {
        Failure {
            error_type: f.error_type,
            message: f.message,
            details: f.details.map(|d| {
                serde_json::from_slice(&d).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&d).into())
                })
            }),
            non_retryable: f.non_retryable,
        }
    }

    pub(crate) fn into_wit(self) -> wit::Failure {
        wit::Failure {
            error_type: self.error_type,
            message: self.message,
            details: self
                .details
                .map(|d| serde_json::to_vec(&d).expect("a JSON value serializes")),
            non_retryable: self.non_retryable,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for Failure {}

/// Result of workflow code.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// `what` names the value in a failure (formatted only then), as for [`decode_outcome`].
pub(crate) fn encode<T: Serialize + ?Sized>(what: &dyn fmt::Display, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Failure::non_retryable("EncodeError", format!("{what} does not encode: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(what: &dyn fmt::Display, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::non_retryable("DecodeError", format!("{what} does not decode: {e}")))
}

/// `what` names the operation in a failure (formatted only then).
pub(crate) fn decode_outcome<O: DeserializeOwned>(
    what: &dyn fmt::Display,
    outcome: wit::Outcome,
) -> Result<O> {
    match outcome {
        wit::Outcome::Completed(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure::non_retryable(
                "DecodeError",
                format!("result of {what} does not decode: {e}"),
            )
        }),
        wit::Outcome::Failed(f) => Err(Failure::from_wit(f)),
        wit::Outcome::Canceled => Err(Failure::non_retryable(
            "Canceled",
            format!("{what} was canceled"),
        )),
        wit::Outcome::Fired => unreachable!("{what} resolved as a timer"),
    }
}

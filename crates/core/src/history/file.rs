//! A run's history as a file that can be read back exactly: what `weft history --export`
//! writes and `weft replay` reads. Two forms of the same content:
//!
//! - JSON (`docs/history-format.md`, schema in `docs/history.schema.json`): an envelope with
//!   the format name and version, the ids, and the events with payloads as
//!   `{"json": <the payload's text, verbatim>}` or `{"base64": "..."}`, so export and import
//!   round-trip byte for byte;
//! - binary: a magic header, the version, then the same envelope in postcard (payloads as
//!   bytes), for large histories.

use super::Event;
use serde::{Deserialize, Serialize};

/// A run's history with the ids it ran under (the code sees them through `info`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryFile {
    /// Always [`HistoryFile::FORMAT`].
    pub format: String,
    /// The format's version, [`HistoryFile::VERSION`] for files this build writes.
    pub version: u32,
    /// The namespace the run belongs to.
    pub namespace: String,
    /// The workflow id.
    pub workflow_id: String,
    /// The run id (a UUID).
    pub run_id: String,
    /// The events, from WorkflowExecutionStarted.
    pub events: Vec<Event>,
}

/// Why a history file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryFileError {
    /// Not JSON of this format, or a field does not parse.
    #[error("not a weft history file: {0}")]
    Malformed(String),
    /// Written by a later version of weft.
    #[error("history file version {0} is newer than this build reads ({max})", max = HistoryFile::VERSION)]
    UnsupportedVersion(u32),
}

/// The first bytes of the binary form.
const MAGIC: &[u8; 8] = b"WEFTHIST";

impl HistoryFile {
    /// The `format` field of every history file.
    pub const FORMAT: &'static str = "weft.history";
    /// The version this build writes (and the newest it reads).
    pub const VERSION: u32 = 1;

    /// A history file of `events`.
    pub fn new(namespace: &str, workflow_id: &str, run_id: &str, events: Vec<Event>) -> Self {
        HistoryFile {
            format: Self::FORMAT.into(),
            version: Self::VERSION,
            namespace: namespace.into(),
            workflow_id: workflow_id.into(),
            run_id: run_id.into(),
            events,
        }
    }

    /// The JSON form, indented.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a history serializes")
    }

    /// The binary form.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&Self::VERSION.to_le_bytes());
        out.extend(postcard::to_allocvec(self).expect("a history serializes"));
        out
    }

    /// Reads either form.
    pub fn read(bytes: &[u8]) -> Result<HistoryFile, HistoryFileError> {
        let file = if let Some(rest) = bytes.strip_prefix(MAGIC) {
            let (version, body) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| HistoryFileError::Malformed("truncated header".into()))?;
            let version = u32::from_le_bytes(*version);
            if version > Self::VERSION {
                return Err(HistoryFileError::UnsupportedVersion(version));
            }
            postcard::from_bytes::<HistoryFile>(body)
                .map_err(|e| HistoryFileError::Malformed(e.to_string()))?
        } else {
            // The version first, so a newer file is named as such rather than malformed.
            let probe: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| HistoryFileError::Malformed(e.to_string()))?;
            if probe.get("format").and_then(|f| f.as_str()) != Some(Self::FORMAT) {
                return Err(HistoryFileError::Malformed(format!(
                    "the `format` field is not \"{}\"",
                    Self::FORMAT
                )));
            }
            if let Some(v) = probe.get("version").and_then(|v| v.as_u64())
                && v > u64::from(Self::VERSION)
            {
                return Err(HistoryFileError::UnsupportedVersion(v as u32));
            }
            serde_json::from_slice::<HistoryFile>(bytes)
                .map_err(|e| HistoryFileError::Malformed(e.to_string()))?
        };
        if file.format != Self::FORMAT {
            return Err(HistoryFileError::Malformed(format!(
                "the `format` field is not \"{}\"",
                Self::FORMAT
            )));
        }
        Ok(file)
    }
}

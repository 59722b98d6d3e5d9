//! Deterministic replay of one Workflow Task: the host side of the `weft:workflow/host`
//! imports, in weft's own types. It answers each import from the recorded history when the
//! answer is known, matches each command the code issues against the recorded command events,
//! and collects the new commands that end the task.
//!
//! Rules that keep replay deterministic:
//! - The k-th command the code issues must match the k-th command event of the history
//!   (ActivityTaskScheduled by activity type, TimerStarted, ...; `commands`); otherwise the
//!   task fails with a non-determinism error naming the event. In [`ReplayMode::Strict`] (per
//!   namespace or workflow type, see [`Served`]) every attribute the code decides must match
//!   too (`strict`).
//! - `wait-any` returns, among the awaited operations resolved in the history, the one whose
//!   resolving event comes first, or an earlier recorded message (`wait`). The host's timing
//!   never decides.
//! - Workflow time is the start time of the Workflow Task in which the code originally ran at
//!   that point: it advances as replay consumes results that arrived in later tasks.
//!
//! This crate does not depend on wasmtime, a database or an async runtime: the wasm glue
//! converts the WIT values at the edge and raises an [`Interrupt`] as a trap; the task runner
//! loads the history and commits the commands.

mod commands;
mod determinism;
mod index;
mod machine;
mod sticky;
mod strict;
mod task;
pub mod testing;
pub mod types;
mod wait;

#[cfg(test)]
mod cancellation_tests;
#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod messages_tests;

pub use commands::{PATCH_MARKER, describe_command};
pub use determinism::{GuestLog, SeededRng};
pub use machine::Replay;
pub use strict::{Mismatch, ReplayMode};
pub use task::{
    Extra, Interrupt, QueryRequest, Resume, RunInfo, Served, StickyLink, UpdateRequest, UpdateState,
};

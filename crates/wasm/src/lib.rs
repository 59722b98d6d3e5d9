//! The only crate that knows wasmtime: the engine and its epoch ticker, admission of workflow
//! components (size, validity, allowed imports, world), the deterministic WASI, the
//! `weft:workflow` imports bound to the replay (converting WIT values at the edge), and the
//! sticky cache of suspended instances. It does not read or write histories: the task runner
//! hands it a [`weft_replay::Replay`] and commits what comes back.

mod compile_cache;
mod glue;
pub mod sandbox;
pub mod sticky;
pub mod wasi;

pub use glue::{from_wit_failure, to_wit_failure};
pub use sandbox::{AdmissionError, CompiledWorkflow, Sandbox};

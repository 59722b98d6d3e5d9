//! weft's vocabulary, shared by every other crate: ids, payloads and failures, events and their
//! versioned on-disk encoding, the commands a workflow issues, every limit and default, and the
//! clock. No I/O: this crate does not depend on wasmtime, redb or tokio.

pub mod clock;
pub mod command;
pub mod history;
pub mod ids;
pub mod limits;
pub mod rng;

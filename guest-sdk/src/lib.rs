//! Write weft workflows in Rust.
//!
//! A workflow is a plain function from a JSON-deserializable input to a JSON-serializable
//! output. weft runs it from the start on every Workflow Task and answers every call below from
//! the run's history when the answer is known, so the function must be deterministic: use
//! [`now`], [`random_u64`], [`activity`](fn@activity) and [`timer`](fn@timer) for anything that
//! is not pure computation.
//!
//! ```ignore
//! use weft_sdk::{activity, sleep, Failure};
//! use std::time::Duration;
//!
//! fn greet(name: String) -> Result<String, Failure> {
//!     let greeting: String = activity("make_greeting", &name).result()?;
//!     sleep(Duration::from_secs(1));
//!     Ok(greeting)
//! }
//!
//! weft_sdk::workflow!(greet);
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2`; the result is a component weft loads.
//! Returning `Err` fails the execution. A panic fails only the Workflow Task: weft retries it
//! and the execution stays open until fixed code is deployed.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "weft:workflow/workflow",
        pub_export_macro: true,
        export_macro_name: "__export_weft_workflow",
        default_bindings_module: "weft_sdk::bindings",
    });
}

use bindings::weft::workflow::host;
use bindings::weft::workflow::types as wit;

mod activity;
mod child;
mod external;
mod failure;
mod messages;
mod nexus;
mod runtime;
mod tasks;
mod timer;

pub use activity::{
    Activity, ActivityOptions, CancellationType, RetryPolicy, activity, activity_with, join_all,
};
pub use child::{
    ChildOptions, ChildWorkflow, ParentClosePolicy, child_workflow, child_workflow_with,
};
pub use external::{ExternalOperation, cancel_external_workflow, signal_external_workflow};
pub use failure::{Failure, Result};
pub use messages::{
    SignalChannel, cancel_reason, is_cancel_requested, set_query_handler, set_signal_handler,
    set_update_handler, set_update_handler_async, set_update_handler_async_with_validator,
    set_update_handler_with_validator, signal_channel,
};
pub use nexus::{NexusOperation, NexusOptions, nexus_operation, nexus_operation_with};
#[doc(hidden)]
pub use runtime::{__run, __run_async};
pub use runtime::{
    Info, Pending, continue_as_new, deprecate_patch, info, now, now_ms, patched, random_u64,
    select, spawn, uuid, wait_condition, wait_condition_async, wait_condition_timeout,
};
pub use tasks::all_handlers_finished;
pub use timer::{Timer, sleep, timer};

//! Nexus operations: [`NexusOptions`], the [`NexusOperation`] handle and calling one.

use crate::failure::{Result, decode_outcome};
use crate::runtime::{Pending, millis, track, wait};
use crate::{host, tasks, wit};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

/// Options of one Nexus operation call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NexusOptions {
    pub schedule_to_close_timeout: Option<Duration>,
}

/// A scheduled Nexus operation whose result is `O`.
#[must_use = "the operation runs whether or not its result is read; call result() to wait for it"]
pub struct NexusOperation<O> {
    handle: u32,
    name: String,
    _output: PhantomData<fn() -> O>,
}

impl<O> Pending for NexusOperation<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<O: DeserializeOwned> NexusOperation<O> {
    /// Waits for the operation and returns its result or failure.
    pub fn result(&self) -> Result<O> {
        let (_, outcome) = wait(&[self.handle]);
        decode_outcome(&format_args!("Nexus operation {}", self.name), outcome)
    }
}

impl<O> NexusOperation<O> {
    /// Asks to cancel the operation.
    pub fn cancel(&self) {
        host::request_cancel(self.handle);
    }
}

/// Calls Nexus operation `operation` of `service` at `endpoint` with `input`.
pub fn nexus_operation<I: Serialize + ?Sized, O>(
    endpoint: &str,
    service: &str,
    operation: &str,
    input: &I,
) -> NexusOperation<O> {
    nexus_operation_with(
        endpoint,
        service,
        operation,
        input,
        &NexusOptions::default(),
    )
}

/// Calls a Nexus operation with explicit options.
pub fn nexus_operation_with<I: Serialize + ?Sized, O>(
    endpoint: &str,
    service: &str,
    operation: &str,
    input: &I,
    options: &NexusOptions,
) -> NexusOperation<O> {
    let name = format!("{endpoint}/{service}/{operation}");
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of Nexus operation {name} does not serialize: {e}"));
    let options = wit::NexusOptions {
        schedule_to_close_timeout_ms: options.schedule_to_close_timeout.map(millis),
    };
    NexusOperation {
        handle: track(host::schedule_nexus_operation(
            endpoint, service, operation, &input, options,
        )),
        name,
        _output: PhantomData,
    }
}

impl<O: DeserializeOwned + 'static> IntoFuture for NexusOperation<O> {
    type Output = Result<O>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O>>>>;
    /// Awaits the operation in an async workflow: its result or failure.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let outcome = tasks::HandleWait(self.handle).await;
            decode_outcome(&format_args!("Nexus operation {}", self.name), outcome)
        })
    }
}

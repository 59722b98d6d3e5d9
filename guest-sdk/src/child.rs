//! Child workflows: [`ChildOptions`], [`ParentClosePolicy`], the [`ChildWorkflow`] handle and
//! starting one.

use crate::activity::{CancellationType, RetryPolicy, retry_to_wit};
use crate::failure::{Result, decode_outcome};
use crate::runtime::{Pending, millis, request_cancel, set_cancellation_type, track, wait};
use crate::{host, tasks, wit};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

/// What happens to a child workflow when its parent closes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParentClosePolicy {
    /// The child is terminated.
    #[default]
    Terminate,
    /// The child is asked to cancel.
    RequestCancel,
    /// The child keeps running.
    Abandon,
}

/// Options of a child workflow; `None` fields take the defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChildOptions {
    pub parent_close_policy: ParentClosePolicy,
    pub execution_timeout: Option<Duration>,
    pub run_timeout: Option<Duration>,
    pub task_timeout: Option<Duration>,
    pub retry_policy: Option<RetryPolicy>,
    /// What [`ChildWorkflow::cancel`] (or the workflow's own cancellation) waits for.
    pub cancellation_type: CancellationType,
}

/// A started child workflow whose result is `O`.
#[must_use = "the child runs whether or not its result is read; call result() to wait for it"]
pub struct ChildWorkflow<O> {
    handle: u32,
    id: String,
    _output: PhantomData<fn() -> O>,
}

impl<O> Pending for ChildWorkflow<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<O: DeserializeOwned> ChildWorkflow<O> {
    /// Waits for the child and returns its result, or its failure (`Terminated`, `TimedOut`,
    /// `Canceled`, `WorkflowExecutionAlreadyStarted` when its id was taken).
    pub fn result(&self) -> Result<O> {
        let (_, outcome) = wait(&[self.handle]);
        decode_outcome(&format_args!("child workflow '{}'", self.id), outcome)
    }
}

impl<O> ChildWorkflow<O> {
    /// Asks the child to cancel; [`ChildOptions::cancellation_type`] says when
    /// [`ChildWorkflow::result`] gives `Canceled` (by default once the child closed).
    pub fn cancel(&self) {
        request_cancel(self.handle);
    }
}

/// Starts child workflow `id` of `workflow_type` with `input`.
pub fn child_workflow<I: Serialize + ?Sized, O>(
    workflow_type: &str,
    id: &str,
    input: &I,
) -> ChildWorkflow<O> {
    child_workflow_with(workflow_type, id, input, &ChildOptions::default())
}

/// Starts a child workflow with options.
pub fn child_workflow_with<I: Serialize + ?Sized, O>(
    workflow_type: &str,
    id: &str,
    input: &I,
    options: &ChildOptions,
) -> ChildWorkflow<O> {
    let input = serde_json::to_vec(input)
        .unwrap_or_else(|e| panic!("input of child workflow {id} does not serialize: {e}"));
    let wit_options = wit::ChildOptions {
        parent_close_policy: Some(match options.parent_close_policy {
            ParentClosePolicy::Terminate => wit::ParentClosePolicy::Terminate,
            ParentClosePolicy::RequestCancel => wit::ParentClosePolicy::RequestCancel,
            ParentClosePolicy::Abandon => wit::ParentClosePolicy::Abandon,
        }),
        execution_timeout_ms: options.execution_timeout.map(millis),
        run_timeout_ms: options.run_timeout.map(millis),
        task_timeout_ms: options.task_timeout.map(millis),
        retry_policy: options.retry_policy.as_ref().map(retry_to_wit),
    };
    let handle = host::start_child_workflow(workflow_type, id, &input, &wit_options);
    ChildWorkflow {
        handle: track(set_cancellation_type(handle, options.cancellation_type)),
        id: id.to_string(),
        _output: PhantomData,
    }
}

impl<O: DeserializeOwned + 'static> IntoFuture for ChildWorkflow<O> {
    type Output = Result<O>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O>>>>;
    /// Awaits the child in an async workflow: its result or failure.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let outcome = tasks::HandleWait(self.handle).await;
            decode_outcome(&format_args!("child workflow '{}'", self.id), outcome)
        })
    }
}

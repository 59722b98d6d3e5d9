//! Activities: their options ([`ActivityOptions`], [`RetryPolicy`], and the [`CancellationType`]
//! child workflows share), the [`Activity`] handle, and scheduling and waiting for them.

use crate::failure::{Result, decode_outcome};
use crate::runtime::{Pending, millis, request_cancel, set_cancellation_type, track, wait};
use crate::{host, tasks, wit};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

/// How an activity is retried. Defaults follow Temporal's: 1 s initial interval, coefficient 2,
/// maximum interval 100 x initial, unlimited attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub initial_interval: Duration,
    pub backoff_coefficient: f64,
    pub maximum_interval: Duration,
    /// Attempts in all, the first included; 0 is unlimited.
    pub maximum_attempts: u32,
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: Duration::from_secs(100),
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

/// Options of one activity call; `None` fields take the host's defaults. The timeouts mean
/// what Temporal's do: start-to-close per attempt, schedule-to-close over all attempts,
/// schedule-to-start per attempt in its queue, heartbeat as the longest gap between
/// heartbeats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivityOptions {
    pub start_to_close_timeout: Option<Duration>,
    pub schedule_to_close_timeout: Option<Duration>,
    pub schedule_to_start_timeout: Option<Duration>,
    pub heartbeat_timeout: Option<Duration>,
    /// The task queue (default `default`); the host must serve it in this namespace.
    pub task_queue: Option<String>,
    pub retry_policy: Option<RetryPolicy>,
    /// What [`Activity::cancel`] (or the workflow's own cancellation) waits for.
    /// `WaitCancellationRequested` is for children only: the Workflow Task fails.
    pub cancellation_type: CancellationType,
}

/// How the wait on an activity or child workflow asked to cancel ends (Temporal's
/// cancellation types). The type is recorded in the cancel's event, so a replay agrees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CancellationType {
    /// Wait until the operation ends: `Canceled`, or its result or failure if it finished
    /// anyway.
    #[default]
    WaitCancellationCompleted,
    /// Request the cancel and end the wait as `Canceled` at once; a result the operation
    /// reports later is recorded, not returned.
    TryCancel,
    /// Send nothing (the operation keeps running) and end the wait as `Canceled` at once.
    Abandon,
    /// Child workflows only: end the wait as `Canceled` once the child's cancel request is
    /// recorded, without waiting for the child to close.
    WaitCancellationRequested,
}

impl ActivityOptions {
    fn to_wit(&self) -> wit::ActivityOptions {
        wit::ActivityOptions {
            start_to_close_timeout_ms: self.start_to_close_timeout.map(millis),
            schedule_to_close_timeout_ms: self.schedule_to_close_timeout.map(millis),
            schedule_to_start_timeout_ms: self.schedule_to_start_timeout.map(millis),
            heartbeat_timeout_ms: self.heartbeat_timeout.map(millis),
            task_queue: self.task_queue.clone(),
            retry_policy: self.retry_policy.as_ref().map(retry_to_wit),
        }
    }
}

pub(crate) fn retry_to_wit(p: &RetryPolicy) -> wit::RetryPolicy {
    wit::RetryPolicy {
        initial_interval_ms: millis(p.initial_interval),
        backoff_coefficient: p.backoff_coefficient,
        maximum_interval_ms: millis(p.maximum_interval),
        maximum_attempts: p.maximum_attempts,
        non_retryable_error_types: p.non_retryable_error_types.clone(),
    }
}

/// A scheduled activity whose result is `O`.
#[must_use = "an activity runs whether or not its result is read; call result() to wait for it"]
pub struct Activity<O> {
    handle: u32,
    activity_type: String,
    _output: PhantomData<fn() -> O>,
}

impl<O> Pending for Activity<O> {
    fn handle(&self) -> u32 {
        self.handle
    }
}

impl<O: DeserializeOwned> Activity<O> {
    /// Waits for the activity and returns its result, or the failure of its last attempt (a
    /// timeout is a failure whose type names it; a canceled activity gives `Canceled`).
    pub fn result(&self) -> Result<O> {
        let (_, outcome) = wait(&[self.handle]);
        decode_outcome(&format_args!("activity '{}'", self.activity_type), outcome)
    }
}

impl<O> Activity<O> {
    /// Asks to cancel the activity. Wait with [`Activity::result`] for how it ended; by
    /// [`ActivityOptions::cancellation_type`]: a running attempt learns of the request when it
    /// heartbeats and ends as `Canceled` if it gives up, or with its result if it completes
    /// anyway (`WaitCancellationCompleted`); or the result is `Canceled` at once
    /// (`TryCancel`, and `Abandon`, which tells the activity nothing).
    pub fn cancel(&self) {
        request_cancel(self.handle);
    }
}

/// Schedules activity `activity_type` with `input` and default options. It starts at once;
/// wait for it with [`Activity::result`], [`select`](crate::select) or [`join_all`].
pub fn activity<I: Serialize + ?Sized, O>(activity_type: &str, input: &I) -> Activity<O> {
    activity_with(activity_type, input, &ActivityOptions::default())
}

/// Schedules an activity with explicit options.
pub fn activity_with<I: Serialize + ?Sized, O>(
    activity_type: &str,
    input: &I,
    options: &ActivityOptions,
) -> Activity<O> {
    let input = serde_json::to_vec(input).unwrap_or_else(|e| {
        panic!("input of activity '{activity_type}' does not serialize to JSON: {e}")
    });
    let handle = host::schedule_activity(activity_type, &input, &options.to_wit());
    Activity {
        handle: track(set_cancellation_type(handle, options.cancellation_type)),
        activity_type: activity_type.to_string(),
        _output: PhantomData,
    }
}

/// Waits for all `activities` and returns their results in the same order. They run
/// concurrently: all were scheduled before this call.
pub fn join_all<O: DeserializeOwned>(activities: &[Activity<O>]) -> Vec<Result<O>> {
    activities.iter().map(Activity::result).collect()
}

impl<O: DeserializeOwned + 'static> IntoFuture for Activity<O> {
    type Output = Result<O>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O>>>>;
    /// Awaits the activity in an async workflow: its result, or the failure of its last attempt.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let outcome = tasks::HandleWait(self.handle).await;
            decode_outcome(&format_args!("activity '{}'", self.activity_type), outcome)
        })
    }
}

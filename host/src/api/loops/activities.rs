//! Activity task queues: what a queue worker leases from one, and running one leased attempt with its
//! heartbeats, cancellation and timeouts. Retries and what an outcome records are the store's.

use super::queue_worker::{Leased, TaskSource};
use crate::activity::{self, AttemptParts};
use crate::api::host::Inner;
use crate::history::{Failure, Payload};
use crate::ids::Namespace;
use crate::store::{Effects, HeartbeatAck, LeasedActivity, StoreError, queue_key};
use crate::workflow_task::now_ms;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// One activity task queue of one namespace, served by a queue worker.
pub(super) struct ActivityQueue {
    namespace: Namespace,
    /// The queue's key in the store.
    queue_key: String,
    wakeup: Arc<Notify>,
}

impl ActivityQueue {
    pub(super) fn new(inner: &Inner, namespace: &Namespace, queue: &str) -> ActivityQueue {
        let queue_key = queue_key(namespace, queue);
        ActivityQueue {
            namespace: namespace.clone(),
            wakeup: inner.wake.activity_queue(&queue_key),
            queue_key,
        }
    }
}

impl TaskSource for ActivityQueue {
    type Task = LeasedActivity;
    const WHAT: &'static str = "activity";

    fn next_due(&self, inner: &Inner) -> Option<u64> {
        inner.store.next_activity(&self.queue_key).unwrap_or(None)
    }

    async fn lease(
        &self,
        inner: &Arc<Inner>,
        now: u64,
        free: usize,
    ) -> Result<Leased<LeasedActivity>, StoreError> {
        // The host's activity slots are shared fairly between namespaces.
        let slots = inner.activity_slots.acquire(&self.namespace, free);
        if slots.is_empty() {
            return Ok(Leased::none());
        }
        let (inner2, qk, ns, n) = (
            inner.clone(),
            self.queue_key.clone(),
            self.namespace.clone(),
            slots.len(),
        );
        let leased = tokio::task::spawn_blocking(move || {
            let _turn = inner2.store.lane(&ns);
            inner2.store.lease_activities(&qk, now, n)
        })
        .await;
        let (leased, fx) = match leased {
            Ok(r) => r?,
            Err(e) => {
                error!("the activity lease thread failed: {e}");
                return Ok(Leased::none());
            }
        };
        let changed = fx != Effects::default();
        if changed {
            inner.apply(&fx);
        }
        Ok(Leased {
            again: !leased.is_empty() || changed,
            tasks: leased.into_iter().zip(slots).collect(),
        })
    }

    fn wakeup<'a>(&'a self, _inner: &'a Inner) -> &'a Notify {
        &self.wakeup
    }

    fn finished(inner: &Inner) {
        inner.wake.activity_queues();
    }

    fn run(inner: &Arc<Inner>, task: LeasedActivity) -> impl Future<Output = ()> + Send {
        run_activity(inner, task)
    }

    fn idle(&self, inner: &Inner) {
        inner.activity_slots.want(&self.namespace, 0);
    }

    fn gone(&self, inner: &Inner) -> bool {
        !inner.serves(&self.namespace)
    }

    fn eager_key(&self) -> Option<&str> {
        Some(&self.queue_key)
    }
}

pub(super) async fn run_activity(inner: &Arc<Inner>, leased: LeasedActivity) {
    let LeasedActivity {
        run,
        namespace,
        scheduled_event_id: sched,
        task,
    } = leased;
    let rt = inner.ns(&namespace);
    let (cancel_tx, cancel_rx) = watch::channel(task.cancel_requested);
    inner
        .running
        .lock()
        .expect("running lock")
        .insert((run, sched), cancel_tx);
    // Heartbeat timeouts are measured in real time: `activity` stamps beats from the system
    // clock, and the attempt sleeps on tokio timers.
    let last_beat = Arc::new(std::sync::atomic::AtomicU64::new(now_ms()));
    let attempt = task.attempt;
    let beat: activity::HeartbeatFn = {
        let inner = inner.clone();
        Arc::new(move |details| {
            let inner = inner.clone();
            Box::pin(async move {
                tokio::task::spawn_blocking(move || {
                    inner
                        .store
                        .heartbeat(run, sched, attempt, details, inner.now_ms())
                        .unwrap_or_else(|e| {
                            error!("cannot record a heartbeat: {e}");
                            HeartbeatAck::Continue
                        })
                })
                .await
                .unwrap_or(HeartbeatAck::Continue)
            })
        })
    };
    let ctx = activity::context(AttemptParts {
        namespace: namespace.clone(),
        workflow_id: task.workflow_id.clone(),
        run,
        scheduled: sched,
        activity_type: task.activity_type.clone(),
        attempt,
        details: task.heartbeat_details.clone(),
        cancel: cancel_rx,
        beat,
        last_beat: last_beat.clone(),
    });
    let span = tracing::info_span!("activity", namespace = %namespace, workflow_id = %task.workflow_id, run_id = %run, activity_id = %sched, activity_type = %task.activity_type, attempt);
    let _g = span.enter();
    let attempt_began = std::time::Instant::now();
    let outcome = match rt.activities.get(&task.activity_type) {
        None => Err(Failure::new(
            "ActivityTypeNotRegistered",
            format!(
                "activity type '{}' is not registered in namespace {namespace} on this host",
                task.activity_type
            ),
        )),
        Some(f) => {
            let fut = tokio::spawn(f(ctx, task.input.clone()));
            watch_attempt(
                fut,
                attempt,
                task.start_to_close_timeout_ms,
                task.heartbeat_timeout_ms,
                &last_beat,
            )
            .await
        }
    };
    inner
        .running
        .lock()
        .expect("running lock")
        .remove(&(run, sched));
    let outcome = match outcome {
        Ok(p) if p.len() > rt.limits.max_payload_bytes => Err(Failure::new(
            "PayloadTooLarge",
            format!(
                "result is {} bytes, above the payload limit of {} bytes",
                p.len(),
                rt.limits.max_payload_bytes
            ),
        )
        .non_retryable()),
        other => other,
    };
    crate::telemetry::activity_attempt(
        &namespace,
        crate::telemetry::attempt_outcome(&outcome),
        false,
        Some(attempt_began.elapsed()),
    );
    match &outcome {
        // Giving up after a cancel request is the expected end, recorded as canceled.
        Err(f) if f.error_type == "Canceled" => info!(failure = %f, "activity attempt canceled"),
        Err(f) => warn!(failure = %f, "activity attempt failed"),
        Ok(_) => {}
    }
    let inner2 = inner.clone();
    let r = tokio::task::spawn_blocking(move || {
        let _turn = inner2.store.lane(&namespace);
        inner2
            .store
            .report_activity(run, sched, attempt, outcome, inner2.now_ms())
    })
    .await;
    match r {
        Ok(Ok(Some(fx))) => inner.apply(&fx),
        Ok(Ok(None)) => info!("the attempt's outcome came after the activity ended; dropped"),
        Ok(Err(e)) => error!("cannot record the activity outcome: {e}"),
        Err(e) => error!("cannot record the activity outcome: {e}"),
    }
}

/// Waits for attempt `attempt` of an activity, running as `fut`, and aborts it when it passes
/// its start-to-close timeout or sends no heartbeat within its heartbeat timeout (measured
/// from `last_beat`, system-clock ms).
async fn watch_attempt(
    mut fut: JoinHandle<Result<Payload, Failure>>,
    attempt: u32,
    start_to_close_timeout_ms: u64,
    heartbeat: Option<u64>,
    last_beat: &AtomicU64,
) -> Result<Payload, Failure> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(start_to_close_timeout_ms);
    loop {
        // Wake at the start-to-close deadline or when the next heartbeat is due.
        let beat_due = heartbeat.map(|hb| {
            let last = last_beat.load(Ordering::Relaxed);
            tokio::time::Instant::now()
                + Duration::from_millis((last + hb).saturating_sub(now_ms()))
        });
        let wake_at = beat_due.map_or(deadline, |b| b.min(deadline));
        tokio::select! {
            r = &mut fut => break match r {
                Ok(r) => r,
                Err(join) => Err(Failure::new(
                    "ActivityPanicked",
                    format!("the activity panicked: {join}"),
                )),
            },
            _ = tokio::time::sleep_until(wake_at) => {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    fut.abort();
                    break Err(Failure::new(
                        "StartToCloseTimeout",
                        format!(
                            "attempt {attempt} did not finish within {start_to_close_timeout_ms} ms"
                        ),
                    ));
                }
                if let Some(hb) = heartbeat {
                    let last = last_beat.load(Ordering::Relaxed);
                    if now_ms() >= last + hb {
                        fut.abort();
                        break Err(Failure::new(
                            "HeartbeatTimeout",
                            format!("attempt {attempt} sent no heartbeat for {hb} ms"),
                        ));
                    }
                }
            }
        }
    }
}

//! Activity task queues: what a queue worker leases from one, and running one leased attempt with its
//! heartbeats, cancellation and timeouts. Retries and what an outcome records are the store's.

use super::queue_worker::{Free, Leased, TaskSource};
use crate::activity::{self, AttemptParts};
use crate::api::host::Inner;
use crate::history::{Failure, Payload};
use crate::ids::{EventId, Namespace, RunId};
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
        inner.wake.activity_ended();
    }

    fn starved(&self, inner: &Inner, starved: bool) {
        inner.wake.activity_starved(starved);
    }

    fn run(
        inner: &Arc<Inner>,
        task: LeasedActivity,
        free: Free,
    ) -> impl Future<Output = ()> + Send {
        run_activity(inner, task, free)
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

/// Runs one leased attempt and records its outcome; `free` gives its permit and slot back once
/// the attempt has ended, before the Workflow Task its outcome wakes runs.
pub(super) async fn run_activity(inner: &Arc<Inner>, leased: LeasedActivity, free: Free) {
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
    let throttle = Arc::new(Throttle {
        inner: inner.clone(),
        run,
        sched,
        attempt,
        interval_ms: task
            .heartbeat_timeout_ms
            .map_or(HEARTBEAT_THROTTLE.as_millis() as u64, |t| t * 4 / 5),
        state: Default::default(),
    });
    let beat: activity::HeartbeatFn = {
        let throttle = throttle.clone();
        Arc::new(move |details| {
            let throttle = throttle.clone();
            Box::pin(async move { throttle.beat(details).await })
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
    // Details of a heartbeat still held back go to the next attempt (as Temporal's SDKs send
    // them with the failure); a result needs none.
    throttle.end(outcome.is_err()).await;
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
        // The Workflow Task the outcome wakes runs at once and commits with it.
        let now = inner2.now_ms();
        let mut free = Some(free);
        let reported = inner2.store.report_activity_then(
            run,
            sched,
            attempt,
            outcome,
            now,
            |r| inner2.seen(r),
            |loaded| {
                if let Some(f) = free.take() {
                    f();
                }
                inner2.run_inline(&namespace, run, loaded)
            },
        );
        if let Some(f) = free {
            f();
        }
        reported.map(|(fx, ran)| {
            // The Workflow Task the outcome scheduled ran and committed with it: it is no
            // loop's work (the task's own effects were applied when it ended).
            fx.map(|fx| Effects {
                workflow_task: fx.workflow_task && ran != Some(Some(true)),
                ..fx
            })
        })
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

/// Heartbeats of one attempt, throttled: the first is recorded at once, later ones at most once
/// per interval (0.8 of the heartbeat timeout, or [`HEARTBEAT_THROTTLE`] without one), the
/// latest details of those held back when the interval ends. A held-back heartbeat returns
/// at once with what the last recorded one learned; cancellation reaches an in-process
/// attempt without one. The lease still moves in time: each recorded heartbeat moves it by
/// the heartbeat timeout, and one is recorded within 0.8 of it while the activity beats.
struct Throttle {
    inner: Arc<Inner>,
    run: RunId,
    sched: EventId,
    attempt: u32,
    interval_ms: u64,
    state: std::sync::Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    /// When the last heartbeat was recorded (0: none yet).
    recorded_ms: u64,
    /// What the last recorded one learned.
    ack: Option<HeartbeatAck>,
    /// The latest details held back, if any.
    pending: Option<Option<Payload>>,
    /// A task records the held-back details when the interval ends.
    flushing: bool,
    /// The attempt ended: record nothing more.
    ended: bool,
}

/// Without a heartbeat timeout, heartbeats are recorded at most this often (Temporal's SDKs'
/// default throttle).
const HEARTBEAT_THROTTLE: Duration = Duration::from_secs(30);

impl Throttle {
    async fn beat(self: &Arc<Self>, details: Option<Payload>) -> HeartbeatAck {
        let now = now_ms();
        {
            let mut st = self.state.lock().expect("throttle lock");
            if st.ended {
                return HeartbeatAck::Gone;
            }
            if st.recorded_ms != 0 && now < st.recorded_ms + self.interval_ms {
                st.pending = Some(details);
                if !st.flushing {
                    st.flushing = true;
                    let due = st.recorded_ms + self.interval_ms;
                    let this = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(due.saturating_sub(now_ms())))
                            .await;
                        let pending = {
                            let mut st = this.state.lock().expect("throttle lock");
                            st.flushing = false;
                            if st.ended { None } else { st.pending.take() }
                        };
                        if let Some(details) = pending {
                            this.state.lock().expect("throttle lock").recorded_ms = now_ms();
                            this.record(details).await;
                        }
                    });
                }
                return st.ack.unwrap_or(HeartbeatAck::Continue);
            }
            st.pending = None;
            // Taken now, so beats meanwhile are held back rather than recorded too.
            st.recorded_ms = now;
        }
        self.record(details).await
    }

    /// Records a heartbeat with `details` and keeps what it learned.
    async fn record(&self, details: Option<Payload>) -> HeartbeatAck {
        let (inner, run, sched, attempt) = (self.inner.clone(), self.run, self.sched, self.attempt);
        let ack = tokio::task::spawn_blocking(move || {
            inner
                .store
                .heartbeat(run, sched, attempt, details, inner.now_ms())
                .unwrap_or_else(|e| {
                    error!("cannot record a heartbeat: {e}");
                    HeartbeatAck::Continue
                })
        })
        .await
        .unwrap_or(HeartbeatAck::Continue);
        self.state.lock().expect("throttle lock").ack = Some(ack);
        ack
    }

    /// The attempt ended: nothing more is recorded, except, when it `failed`, the details
    /// still held back, for the next attempt to resume from.
    async fn end(&self, failed: bool) {
        let pending = {
            let mut st = self.state.lock().expect("throttle lock");
            st.ended = true;
            st.pending.take()
        };
        if let (true, Some(details)) = (failed, pending) {
            self.record(details).await;
        }
    }
}

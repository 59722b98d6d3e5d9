//! Activity task queues: the worker of one queue, and running one leased attempt with its
//! heartbeats, cancellation and timeouts. Retries and what an outcome records are the store's.

use super::wait;
use crate::activity::{self, AttemptParts};
use crate::api::host::Inner;
use crate::history::Failure;
use crate::ids::Namespace;
use crate::store::{Effects, HeartbeatAck, LeasedActivity, queue_key};
use crate::workflow_task::now_ms;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

pub(super) async fn activity_loop(
    inner: Arc<Inner>,
    namespace: Namespace,
    queue: String,
    max_concurrent: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut wake = inner.wake.subscribe();
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let qk = queue_key(&namespace, &queue);
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    loop {
        wake.borrow_and_update();
        running.retain(|h| !h.is_finished());
        let now = inner.now_ms();
        let next = inner.store.next_due(&qk).map(|d| d[1]).unwrap_or(None);
        let free = permits.available_permits();
        let due_now = free > 0 && next.is_some_and(|d| d <= now);
        // The host's activity slots are shared fairly between namespaces.
        let slots = if due_now {
            inner.activity_slots.acquire(&namespace, free)
        } else {
            inner.activity_slots.want(&namespace, 0);
            Vec::new()
        };
        if !slots.is_empty() {
            let (inner2, qk2, ns2, n) = (inner.clone(), qk.clone(), namespace.clone(), slots.len());
            let leased = tokio::task::spawn_blocking(move || {
                let _turn = inner2.store.lane(&ns2);
                inner2.store.lease_activities(&qk2, now, n)
            })
            .await
            .unwrap_or_else(|e| {
                error!("the activity lease thread failed: {e}");
                Ok((Vec::new(), Effects::default()))
            });
            match leased {
                Ok((leased, fx)) => {
                    if fx != Effects::default() {
                        inner.apply(&fx);
                    }
                    let idle = leased.is_empty();
                    for (task, slot) in leased.into_iter().zip(slots) {
                        let permit = permits
                            .clone()
                            .try_acquire_owned()
                            .expect("counted permits");
                        let inner2 = inner.clone();
                        running.push(tokio::spawn(async move {
                            run_activity(&inner2, task).await;
                            drop((permit, slot));
                            inner2.bump();
                        }));
                    }
                    if !idle || fx != Effects::default() {
                        continue;
                    }
                }
                Err(e) => error!("cannot lease activity tasks: {e}"),
            }
        }
        if !wait(&inner, &mut wake, &mut stop, next.filter(|_| free > 0)).await {
            inner.activity_slots.want(&namespace, 0);
            for h in running {
                h.abort();
            }
            return;
        }
    }
}

async fn run_activity(inner: &Arc<Inner>, leased: LeasedActivity) {
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
    let outcome = match rt.activities.get(&task.activity_type) {
        None => Err(Failure::new(
            "ActivityTypeNotRegistered",
            format!(
                "activity type '{}' is not registered in namespace {namespace} on this host",
                task.activity_type
            ),
        )),
        Some(f) => {
            let mut fut = tokio::spawn(f(ctx, task.input.clone()));
            let deadline =
                tokio::time::Instant::now() + Duration::from_millis(task.start_to_close_timeout_ms);
            let heartbeat = task.heartbeat_timeout_ms;
            loop {
                // Wake at the start-to-close deadline or when the next heartbeat is due.
                let beat_due = heartbeat.map(|hb| {
                    let last = last_beat.load(std::sync::atomic::Ordering::Relaxed);
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
                                    "attempt {attempt} did not finish within {} ms",
                                    task.start_to_close_timeout_ms
                                ),
                            ));
                        }
                        if let Some(hb) = heartbeat {
                            let last = last_beat.load(std::sync::atomic::Ordering::Relaxed);
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

//! The Workflow Task loop: finds due Workflow Tasks, shares the host's task slots fairly
//! between namespaces, and runs each task on a blocking thread under a watchdog. What a task
//! does is `workflow_task`'s.

use super::wait;
use crate::api::host::Inner;
use crate::api::shutdown::Stopping;
use crate::ids::{Namespace, RunId};
use crate::store::{LoadedRun, StoreError};
use crate::workflow_task::{TaskOutcome, TaskProbe, run_loaded_workflow_task, run_workflow_task};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::{error, info, warn};

pub(super) async fn workflow_task_loop(inner: Arc<Inner>, mut stop: Stopping) {
    loop {
        // Until this round shows otherwise, room made from here on (a slot given back, a run
        // released) wakes the loop again.
        inner.wake.workflow_tasks_starved(true);
        let now = inner.now_ms();
        // Each namespace brings at most as many candidates as it could run at once, and runs
        // with a task in flight are passed over: another namespace's due tasks are found
        // behind one namespace's backlog.
        let mut per_ns: HashMap<Namespace, usize> = HashMap::new();
        let capacity = inner.limits.max_concurrent_workflow_tasks.max(1);
        let passed_over = std::cell::Cell::new(false);
        const ROUND: usize = 256;
        let round = {
            let in_flight = inner.in_flight.lock().expect("in-flight lock").clone();
            inner.store.workflow_task_round(
                now,
                ROUND,
                |run| {
                    let busy = in_flight.contains_key(&run);
                    passed_over.set(passed_over.get() | busy);
                    busy
                },
                |_, ns| {
                    let n = per_ns.entry(ns.clone()).or_default();
                    *n += 1;
                    passed_over.set(passed_over.get() | (*n > capacity));
                    *n > capacity
                },
            )
        };
        let (due, next) = match round {
            Ok(r) => r,
            Err(e) => {
                error!("cannot read workflow tasks: {e}");
                passed_over.set(true);
                (Vec::new(), None)
            }
        };
        // A full round may have left due tasks unread.
        passed_over.set(passed_over.get() | (due.len() >= ROUND));
        let mut demand: HashMap<Namespace, usize> = HashMap::new();
        for (_, ns) in &due {
            *demand.entry(ns.clone()).or_default() += 1;
        }
        inner.workflow_task_slots.want_only(&demand);
        for (run, ns) in due {
            // A namespace at its quota or its fair share waits; others go on.
            let Ok(ns_permit) = inner.ns(&ns).task_permits.clone().try_acquire_owned() else {
                passed_over.set(true);
                continue;
            };
            let Some(slot) = inner.workflow_task_slots.acquire(&ns, 1).pop() else {
                passed_over.set(true);
                continue;
            };
            let Some(token) = inner.claim(run) else {
                passed_over.set(true);
                continue;
            };
            spawn_workflow_task(&inner, run, ns, token, (slot, ns_permit));
        }
        inner.wake.workflow_tasks_starved(passed_over.get());
        if !wait(&inner, &inner.wake.workflow_tasks, &mut stop, next).await {
            return;
        }
    }
}

type Slots = (crate::fair::Slot, tokio::sync::OwnedSemaphorePermit);

/// A task's probe and slot: the slot is given back once the task starts committing, and the
/// run (claimed with `token`) once its commit is durable, or both by the watchdog.
fn probe_and_slot(
    inner: &Arc<Inner>,
    run: RunId,
    token: u64,
    slots: Slots,
) -> (Arc<TaskProbe>, Arc<Mutex<Option<Slots>>>) {
    let probe = Arc::new(TaskProbe::default());
    let held = Arc::new(Mutex::new(Some(slots)));
    let (inner2, held2) = (inner.clone(), held.clone());
    probe.on_commit(move || {
        drop(held2.lock().expect("slot lock").take());
        inner2.wake.workflow_task_room();
    });
    let inner = inner.clone();
    probe.on_committed(move || inner.release(run, token));
    (probe, held)
}

/// Runs `run`'s Workflow Task on a blocking thread, watched from outside (see [`watchdog`]).
fn spawn_workflow_task(inner: &Arc<Inner>, run: RunId, ns: Namespace, token: u64, slots: Slots) {
    let (probe, held) = probe_and_slot(inner, run, token, slots);
    let (inner2, probe2, held2) = (inner.clone(), probe.clone(), held.clone());
    let limits = inner.ns(&ns).limits.clone();
    let handle = tokio::task::spawn_blocking(move || {
        let began = std::time::Instant::now();
        let r = inner2.with_env_probe(&ns, Some(&probe2), |env| run_workflow_task(env, run));
        task_done(&inner2, run, &ns, token, began, r, || {
            drop(held2.lock().expect("slot lock").take());
        });
    });
    tokio::spawn(watchdog(
        inner.clone(),
        run,
        token,
        probe,
        limits,
        held,
        async {
            let _ = handle.await;
        },
    ));
}

/// Watches a task running on a thread of its own until `done`: if the task is still running
/// the guest past the namespace's task time limit plus the watchdog grace (which can only
/// mean it is blocked inside a host call: guest code is stopped by the limit itself), the
/// task is recorded as failed, its slot and run are released, and whatever the thread does
/// later is dropped.
async fn watchdog(
    inner: Arc<Inner>,
    run: RunId,
    token: u64,
    probe: Arc<TaskProbe>,
    limits: crate::limits::Limits,
    held: Arc<Mutex<Option<Slots>>>,
    done: impl std::future::Future<Output = ()>,
) {
    let patience = limits.max_task_time + limits.task_watchdog_grace;
    if tokio::time::timeout(patience, done).await.is_ok() {
        return;
    }
    let Some((what, attempt, started_ms)) = probe.time_out() else {
        // Already committing: let it finish.
        return;
    };
    let message = format!(
        "the Workflow Task did not finish within its time limit of {:?} (plus a grace of {:?}, enforced from outside the guest): it was {what}; the task is failed and retried",
        limits.max_task_time, limits.task_watchdog_grace
    );
    warn!(run = %run, %message, "watchdog: giving up on a Workflow Task");
    if attempt > 0 {
        let retry_at =
            inner.now_ms() + limits.workflow_task_backoff(attempt + 1).as_millis() as u64;
        let inner2 = inner.clone();
        let failed = tokio::task::spawn_blocking(move || {
            inner2.store.fail_workflow_task(
                run,
                attempt,
                started_ms,
                crate::history::WorkflowTaskFailedCause::LimitExceeded,
                &message,
                retry_at,
            )
        })
        .await;
        if let Ok(Err(e)) = failed {
            error!(run = %run, "cannot record the task failure: {e}");
        }
    }
    inner.release(run, token);
    drop(held.lock().expect("slot lock").take());
    inner.bump();
}

/// After a Workflow Task: records its outcome, applies what it committed, releases its run
/// and (`free_slot`) its slot, and wakes those waiting.
fn task_done(
    inner: &Inner,
    run: RunId,
    ns: &Namespace,
    token: u64,
    began: std::time::Instant,
    r: Result<TaskOutcome, StoreError>,
    free_slot: impl FnOnce(),
) {
    let outcome = match &r {
        Ok(TaskOutcome::Completed(_)) => "completed",
        Ok(TaskOutcome::Failed { .. }) => "failed",
        Ok(TaskOutcome::Conflict) => "conflict",
        Ok(TaskOutcome::Terminated(_)) => "terminated",
        Ok(TaskOutcome::Skipped) => "skipped",
        Err(_) => "error",
    };
    crate::telemetry::workflow_task(ns, outcome, began.elapsed());
    // Released before the wake-ups, so that work the commit woke finds the run free.
    inner.release(run, token);
    free_slot();
    let applied = if let Ok(TaskOutcome::Completed(fx)) = &r {
        inner.apply(fx);
        true
    } else {
        false
    };
    match r {
        Ok(TaskOutcome::Conflict) => {
            info!(run = %run, "history changed during the task; running it again")
        }
        Ok(_) => {}
        Err(e) => error!(run = %run, "workflow task could not be committed: {e}"),
    }
    if applied {
        inner.wake.run_released();
    } else {
        // A failed or terminated task commits effects it does not report.
        inner.bump();
    }
}

impl Inner {
    /// The last event of `run` its cached instance has seen (0: none cached): a task of it
    /// loads only the events after it.
    pub(in crate::api) fn seen(&self, run: RunId) -> u64 {
        self.cache.as_ref().and_then(|c| c.seen(run)).unwrap_or(0)
    }

    /// Runs the Workflow Task of `run` (namespace `ns`, as `loaded`) at once on
    /// this thread, the thread of the write that woke it, whose commit the task's then joins
    /// (`Store::report_activity_then`, `Store::start_workflow_then`): one fsync for both.
    /// The run is claimed and a slot taken as the loop would; when the run has a task in
    /// flight or the namespace no free slot, nothing runs (`None`) and the loop runs the
    /// task after the write commits. A watchdog watches it as it watches the loop's tasks.
    pub(in crate::api) fn run_inline(
        self: &Arc<Self>,
        ns: &Namespace,
        run: RunId,
        loaded: LoadedRun,
    ) -> Option<bool> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let permit = self.ns(ns).task_permits.clone().try_acquire_owned().ok()?;
        let slot = self.workflow_task_slots.acquire(ns, 1).pop()?;
        let token = self.claim(run)?;
        let (probe, held) = probe_and_slot(self, run, token, (slot, permit));
        let (finished, done) = tokio::sync::oneshot::channel::<()>();
        let limits = self.ns(ns).limits.clone();
        let watch = runtime.spawn(watchdog(
            self.clone(),
            run,
            token,
            probe.clone(),
            limits,
            held.clone(),
            async {
                let _ = done.await;
            },
        ));
        let began = std::time::Instant::now();
        let r = self.with_env_probe(ns, Some(&probe), |env| {
            run_loaded_workflow_task(env, run, loaded)
        });
        let _ = finished.send(());
        drop(watch);
        let completed = matches!(r, Ok(TaskOutcome::Completed(_)));
        task_done(self, run, ns, token, began, r, || {
            drop(held.lock().expect("slot lock").take());
        });
        Some(completed)
    }
}

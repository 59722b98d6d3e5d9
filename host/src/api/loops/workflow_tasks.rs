//! The Workflow Task loop: finds due Workflow Tasks, shares the host's task slots fairly
//! between namespaces, and runs each task on a blocking thread under a watchdog. What a task
//! does is `workflow_task`'s.

use super::wait;
use crate::api::host::Inner;
use crate::api::shutdown::Stopping;
use crate::ids::{Namespace, RunId};
use crate::workflow_task::{TaskOutcome, TaskProbe, run_workflow_task};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::{error, info, warn};

pub(super) async fn workflow_task_loop(inner: Arc<Inner>, mut stop: Stopping) {
    loop {
        let now = inner.now_ms();
        // Each namespace brings at most as many candidates as it could run at once, and runs
        // with a task in flight are passed over: another namespace's due tasks are found
        // behind one namespace's backlog.
        let mut per_ns: HashMap<Namespace, usize> = HashMap::new();
        let capacity = inner.limits.max_concurrent_workflow_tasks.max(1);
        let due = {
            let in_flight = inner.in_flight.lock().expect("in-flight lock").clone();
            inner.store.due_workflow_tasks(now, 256, |run, ns| {
                if in_flight.contains_key(&run) {
                    return true;
                }
                let n = per_ns.entry(ns.clone()).or_default();
                *n += 1;
                *n > capacity
            })
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                error!("cannot read workflow tasks: {e}");
                Vec::new()
            }
        };
        let mut demand: HashMap<Namespace, usize> = HashMap::new();
        for (_, ns) in &due {
            *demand.entry(ns.clone()).or_default() += 1;
        }
        inner.workflow_task_slots.want_only(&demand);
        for (run, ns) in due {
            // A namespace at its quota or its fair share waits; others go on.
            let Ok(ns_permit) = inner.ns(&ns).task_permits.clone().try_acquire_owned() else {
                continue;
            };
            let Some(slot) = inner.workflow_task_slots.acquire(&ns, 1).pop() else {
                continue;
            };
            let Some(token) = inner.claim(run) else {
                continue;
            };
            spawn_workflow_task(&inner, run, ns, token, (slot, ns_permit));
        }
        let next = inner.store.next_workflow_task_after(now).ok().flatten();
        if !wait(&inner, &inner.wake.workflow_tasks, &mut stop, next).await {
            return;
        }
    }
}

/// Runs `run`'s Workflow Task on a blocking thread, watched from outside: if the task is
/// still running the guest past the namespace's task time limit plus the watchdog grace
/// (which can only mean it is blocked inside a host call: guest code is stopped by the limit
/// itself), the task is recorded as failed, its slot and run are released, and whatever the
/// thread does later is dropped.
fn spawn_workflow_task(
    inner: &Arc<Inner>,
    run: RunId,
    ns: Namespace,
    token: u64,
    slots: (crate::fair::Slot, tokio::sync::OwnedSemaphorePermit),
) {
    let probe = Arc::new(TaskProbe::default());
    let held = Arc::new(Mutex::new(Some(slots)));
    let limits = inner.ns(&ns).limits.clone();
    {
        // The slot is given back once the task commits; its run stays claimed until the end.
        let (inner, held) = (inner.clone(), held.clone());
        probe.on_commit(move || {
            drop(held.lock().expect("slot lock").take());
            inner.wake.workflow_tasks.notify_one();
        });
    }
    let (inner2, probe2, held2) = (inner.clone(), probe.clone(), held.clone());
    let handle = tokio::task::spawn_blocking(move || {
        let began = std::time::Instant::now();
        let r = inner2.with_env_probe(&ns, Some(&probe2), |env| run_workflow_task(env, run));
        let outcome = match &r {
            Ok(TaskOutcome::Completed(_)) => "completed",
            Ok(TaskOutcome::Failed { .. }) => "failed",
            Ok(TaskOutcome::Conflict) => "conflict",
            Ok(TaskOutcome::Terminated(_)) => "terminated",
            Ok(TaskOutcome::Skipped) => "skipped",
            Err(_) => "error",
        };
        crate::telemetry::workflow_task(&ns, outcome, began.elapsed());
        let applied = if let Ok(TaskOutcome::Completed(fx)) = &r {
            inner2.apply(fx);
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
        inner2.release(run, token);
        drop(held2.lock().expect("slot lock").take());
        if applied {
            inner2.wake.run_released();
        } else {
            // A failed or terminated task commits effects it does not report.
            inner2.bump();
        }
    });
    let inner = inner.clone();
    tokio::spawn(async move {
        let mut handle = handle;
        let patience = limits.max_task_time + limits.task_watchdog_grace;
        if tokio::time::timeout(patience, &mut handle).await.is_ok() {
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
    });
}

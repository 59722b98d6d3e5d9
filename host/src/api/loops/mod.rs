//! The background loops of a host: Workflow Tasks, one worker per activity task queue, the
//! Nexus queue and timers. Each loop finds due work in the store, runs it within the host's and
//! namespace's concurrency limits, and sleeps until the next due time, a wake-up or a stop.
//! What a task does and commits belongs to `workflow_task`, `activity`, `nexus` and `store`.

mod activities;
mod eager;
pub(super) mod nexus;
mod queue_worker;
mod timers;
mod workflow_tasks;

use super::host::{Inner, NamespaceRt};
use crate::api::shutdown::{Shutdown, Stopping};
use crate::ids::Namespace;
pub(super) use eager::{EagerHost, EagerQueue};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Spawns every loop of the host; each ends when the shutdown begins.
pub(super) fn spawn_all(inner: &Arc<Inner>, stop: &Shutdown) -> Vec<JoinHandle<()>> {
    let mut loops = vec![
        tokio::spawn(workflow_tasks::workflow_task_loop(
            inner.clone(),
            stop.listener(),
        )),
        tokio::spawn(timers::timer_loop(inner.clone(), stop.listener())),
        tokio::spawn(queue_worker::queue_worker(
            inner.clone(),
            nexus::NexusQueue,
            inner.limits.max_concurrent_activities,
            stop.listener(),
        )),
    ];
    let namespaces: Vec<_> = inner
        .namespaces
        .read()
        .expect("namespaces lock")
        .iter()
        .map(|(ns, rt)| (ns.clone(), rt.clone()))
        .collect();
    for (ns, rt) in namespaces {
        loops.extend(spawn_queues(inner, stop, &ns, &rt));
    }
    loops
}

/// Spawns a worker per activity task queue namespace `ns` serves in-process (none when its
/// activities are remote); each ends when the shutdown begins or the namespace is removed.
pub(super) fn spawn_queues(
    inner: &Arc<Inner>,
    stop: &Shutdown,
    ns: &Namespace,
    rt: &NamespaceRt,
) -> Vec<JoinHandle<()>> {
    rt.queues
        .iter()
        .map(|(queue, max)| {
            tokio::spawn(queue_worker::queue_worker(
                inner.clone(),
                activities::ActivityQueue::new(inner, ns, queue),
                *max,
                stop.listener(),
            ))
        })
        .collect()
}

/// Waits until `deadline_ms` (if any, at most a second ahead), a wake-up or a stop.
/// Returns false when the host is stopping.
async fn wait(inner: &Inner, wake: &Notify, stop: &mut Stopping, deadline_ms: Option<u64>) -> bool {
    let now = inner.now_ms();
    let sleep_ms = deadline_ms.map_or(1_000, |d| d.saturating_sub(now).min(1_000));
    tokio::select! {
        _ = wake.notified() => {}
        _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
        _ = stop.begun() => {}
    }
    !stop.is_stopping()
}

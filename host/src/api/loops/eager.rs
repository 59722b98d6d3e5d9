//! Eager activity execution: a Workflow Task's new activities whose queue this host serves
//! in-process are leased by the task's own commit and started at once, in the queue worker's
//! permits and the namespace's fair share of activity slots, without a lease commit of their
//! own (`workflow_task::EagerActivities`). The queue worker registers its permits and its
//! running tasks here, and aborts eager ones with its own when it stops.

use super::activities::{ActivityQueue, run_activity};
use super::queue_worker::TaskSource;
use crate::api::host::Inner;
use crate::fair::Slot;
use crate::ids::Namespace;
use crate::store::LeasedActivity;
use crate::workflow_task::{EagerActivities, EagerRoom};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// What an in-process activity queue's worker shares for eager activities.
pub(crate) struct EagerQueue {
    /// The worker's permits (its queue's concurrency).
    pub(super) permits: Arc<Semaphore>,
    /// The worker's running tasks, eager ones included.
    pub(super) running: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// The host as a Workflow Task sees it for eager activities.
pub(crate) struct EagerHost(pub(crate) Arc<Inner>);

/// Room for one activity: a permit of its queue and a host slot. Dropped, used or not, it
/// gives both back and wakes the queue workers that wait for room.
struct Room {
    permit: Option<OwnedSemaphorePermit>,
    slot: Option<Slot>,
    inner: Arc<Inner>,
}

impl Drop for Room {
    fn drop(&mut self) {
        // Given back before the workers are told.
        drop((self.permit.take(), self.slot.take()));
        ActivityQueue::finished(&self.inner);
    }
}

impl EagerActivities for EagerHost {
    fn reserve(&self, namespace: &Namespace, queue_key: &str, n: usize) -> Vec<EagerRoom> {
        let inner = &self.0;
        let Some(permits) = inner
            .eager
            .lock()
            .expect("eager lock")
            .get(queue_key)
            .map(|q| q.permits.clone())
        else {
            return Vec::new();
        };
        let mut held = Vec::new();
        while held.len() < n {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        if held.is_empty() {
            return Vec::new();
        }
        let slots = inner.activity_slots.acquire(namespace, held.len());
        held.truncate(slots.len());
        held.into_iter()
            .zip(slots)
            .map(|(permit, slot)| {
                Box::new(Room {
                    permit: Some(permit),
                    slot: Some(slot),
                    inner: inner.clone(),
                }) as EagerRoom
            })
            .collect()
    }

    fn run(&self, leased: LeasedActivity, room: EagerRoom) {
        let inner = self.0.clone();
        let qk = crate::store::queue_key(&leased.namespace, &leased.task.task_queue);
        let running = inner
            .eager
            .lock()
            .expect("eager lock")
            .get(&qk)
            .map(|q| q.running.clone());
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // Not on the host's runtime (cannot happen for a host's task): the lease runs out
            // and the attempt is retried.
            tracing::error!("an eager activity found no runtime to run on");
            return;
        };
        // The room goes back with its permit and slot.
        let free = Box::new(move || drop(room));
        let handle = rt.spawn(async move { run_activity(&inner, leased, free).await });
        if let Some(running) = running {
            let mut running = running.lock().expect("running lock");
            // The worker sweeps ended tasks out when it wakes, which an eager activity's end
            // no longer makes it do: swept here too before the list grows, so that it holds
            // at most about twice the tasks still running.
            if running.len() == running.capacity() {
                running.retain(|h| !h.is_finished());
            }
            running.push(handle);
        }
    }
}

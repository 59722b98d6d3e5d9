//! The sticky cache: workflow instances kept suspended between Workflow Tasks, so the next
//! task resumes an instance with the new events instead of replaying the whole history.
//!
//! Each cached instance lives on its own thread, blocked inside `wait-any` at the end of its
//! history (Temporal's Java SDK keeps workflow threads the same way). The cache is an
//! optimization only: an instance is used again only if the history grew by events of other
//! sources since its own commit; anything else (another task committed, the component was
//! registered again, the run changed namespace limits) evicts it and the task replays from
//! the start, which must reach the same state. Bounded by a count and the linear memory of
//! the instances; least recently used go first. This module does not decide what a task
//! commits (`workflow_task`) nor what the code sees (`replay`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use weft_core::command::Command;
use weft_core::ids::RunId;
use weft_replay::Resume;

/// What a cached instance's thread reports.
pub enum Report<O> {
    /// The code waits at the end of the history: the task's commands.
    Suspended(Vec<Command>),
    /// The code finished (returned, failed, or was stopped): the thread ends.
    Done(O),
}

/// A workflow instance suspended on its thread.
pub struct Worker<O> {
    pub resume: Sender<Resume>,
    pub reports: Receiver<Report<O>>,
    /// The compilation it runs.
    pub compiled_id: u64,
    /// Its linear memory, bytes.
    pub memory: Arc<AtomicUsize>,
    /// `next_event_id` of its run right after its last commit.
    pub known_next: u64,
    /// The last event of its run it has seen (the history of its last task): the next task
    /// hands it the events after this one.
    pub seen: u64,
}

impl<O> Drop for Worker<O> {
    fn drop(&mut self) {
        // The thread unwinds the guest and ends.
        let _ = self.resume.send(Resume::Evict);
    }
}

/// Counters of the cache, for tests and benchmarks.
///
/// ```
/// use weft_core::ids::RunId;
/// use weft_wasm::sticky::{CacheStats, StickyCache};
/// // `weft`'s `Host::cache_stats` reads the host's cache the same way.
/// let cache: StickyCache<()> = StickyCache::new(128, 512 << 20);
/// assert!(cache.take(RunId::random()).is_none()); // a miss: the task replays the history
/// assert_eq!(cache.stats(), CacheStats { entries: 0, hits: 0, evictions: 0 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Instances held now.
    pub entries: usize,
    /// Tasks that resumed a cached instance.
    pub hits: u64,
    /// Instances evicted for room (count or memory).
    pub evictions: u64,
}

type Entries<O> = HashMap<RunId, (u64, Worker<O>)>;

/// Suspended instances by run, least recently used evicted first.
pub struct StickyCache<O> {
    max_entries: usize,
    max_bytes: usize,
    /// (use counter, instances with their last use).
    state: Mutex<(u64, Entries<O>)>,
    hits: AtomicU64,
    evictions: AtomicU64,
}

impl<O> StickyCache<O> {
    /// A cache of at most `max_entries` instances holding at most `max_bytes` of linear
    /// memory together.
    pub fn new(max_entries: usize, max_bytes: usize) -> StickyCache<O> {
        StickyCache {
            max_entries,
            max_bytes,
            state: Mutex::new((0, HashMap::new())),
            hits: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Takes the instance of `run` out of the cache (it runs one task at a time).
    pub fn take(&self, run: RunId) -> Option<Worker<O>> {
        let w = self
            .state
            .lock()
            .expect("cache lock")
            .1
            .remove(&run)
            .map(|(_, w)| w);
        if w.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        w
    }

    /// Keeps `worker` for `run`'s next task, evicting the least recently used instances
    /// beyond the bounds (possibly this one, if it alone is above the memory budget).
    /// The last event the cached instance of `run` has seen, if one is cached (see
    /// [`Worker::seen`]): a task loads only the events after it.
    pub fn seen(&self, run: RunId) -> Option<u64> {
        let state = self.state.lock().expect("cache lock");
        state.1.get(&run).map(|(_, w)| w.seen)
    }

    pub fn put(&self, run: RunId, worker: Worker<O>) {
        let mut evicted = Vec::new();
        {
            let mut state = self.state.lock().expect("cache lock");
            state.0 += 1;
            let tick = state.0;
            state.1.insert(run, (tick, worker));
            loop {
                let bytes: usize = state
                    .1
                    .values()
                    .map(|(_, w)| w.memory.load(Ordering::Relaxed))
                    .sum();
                if state.1.len() <= self.max_entries && bytes <= self.max_bytes {
                    break;
                }
                let Some(oldest) = state.1.iter().min_by_key(|(_, (t, _))| *t).map(|(r, _)| *r)
                else {
                    break;
                };
                evicted.extend(state.1.remove(&oldest));
            }
        }
        self.evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        drop(evicted); // outside the lock: each tells its thread to end
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.state.lock().expect("cache lock").1.len(),
            hits: self.hits.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

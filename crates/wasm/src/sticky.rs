//! The sticky cache: workflow instances kept suspended between Workflow Tasks, so the next
//! task resumes an instance with the new events instead of replaying the whole history.
//!
//! A cached instance is a pending future: its call into wasm runs on a fiber (wasmtime's
//! async support), and at the end of its history its `wait-any` stays pending
//! ([`StickyLink`]). The thread running a task polls the instance until it suspends or
//! finishes; between tasks nothing runs and no thread is held, only the fiber's stack and the
//! instance's memory. The cache is an optimization only: an instance is used again only if
//! the history grew by events of other sources since its own commit; anything else (another
//! task committed, the component was registered again, the run changed namespace limits)
//! evicts it and the task replays from the start, which must reach the same state. Bounded by
//! a count and the linear memory of the instances; least recently used go first. This module
//! does not decide what a task commits (`workflow_task`) nor what the code sees (`replay`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use weft_core::command::Command;
use weft_core::ids::RunId;
use weft_replay::{Resume, StickyLink};

/// How a polled instance stopped.
pub enum Report<O> {
    /// The code waits at the end of the history: the task's commands.
    Suspended(Vec<Command>),
    /// The code finished (returned, failed, or was stopped).
    Done(O),
    /// The call is pending, but the code did not suspend at the end of its history: nothing
    /// can resume it (a host function other than `wait-any` waited).
    Stalled,
}

/// The run of an instance: its call into wasm and what the code's end becomes.
pub type Run<O> = Pin<Box<dyn Future<Output = O> + Send>>;

/// A workflow instance suspended in its call into wasm.
pub struct Worker<O> {
    /// `None` once the call finished.
    run: Option<Run<O>>,
    link: StickyLink,
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

/// Polls `fut` once, on the calling thread. The futures of a workflow instance never register
/// a waker: they are ready, or pending until the host resumes them and polls again.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

impl<O> Worker<O> {
    /// An instance whose code runs in `run`, linked to its replay by `link`; not started
    /// until [`Worker::advance`].
    pub fn new(run: Run<O>, link: StickyLink, compiled_id: u64, memory: Arc<AtomicUsize>) -> Self {
        Worker {
            run: Some(run),
            link,
            compiled_id,
            memory,
            known_next: 0,
            seen: 0,
        }
    }

    /// Runs the code, on this thread, until it suspends (the instance is returned, to be
    /// cached) or finishes.
    pub fn advance(mut self) -> (Report<O>, Option<Worker<O>>) {
        let Some(run) = self.run.as_mut() else {
            return (Report::Stalled, None);
        };
        match poll_once(run.as_mut()) {
            Poll::Ready(out) => {
                self.run = None;
                (Report::Done(out), None)
            }
            Poll::Pending => match self.link.take_suspended() {
                Some(commands) => (Report::Suspended(commands), Some(self)),
                None => (Report::Stalled, None),
            },
        }
    }

    /// Hands the instance its next task and runs it (see [`Worker::advance`]).
    pub fn resume(self, next: Resume) -> (Report<O>, Option<Worker<O>>) {
        self.link.resume(next);
        self.advance()
    }
}

impl<O> Drop for Worker<O> {
    fn drop(&mut self) {
        // The guest unwinds (its `wait-any` traps with `Evicted`) and its fiber stack is
        // freed.
        if let Some(mut run) = self.run.take() {
            self.link.resume(Resume::Evict);
            let _ = poll_once(run.as_mut());
        }
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
        drop(evicted); // outside the lock: each unwinds its guest
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

//! The turns of writes at the database's single writer, round-robin between namespaces.
//! Decides whose write runs next in the open group commit; knows nothing of what is written.

use std::sync::Mutex;
use weft_core::ids::Namespace;

/// Turns at the database's single writer, taken round-robin between namespaces: a namespace
/// with many writes queued (a fan-out, a flood of signals) waits behind itself, while a
/// namespace with one write waits for at most one write of each other namespace. A turn
/// covers running one write in the open batch, not its commit (see `group`). Writes made
/// outside any namespace's lane take turns as a namespace of their own. Blocking: enter it
/// only on a thread that may block (never on the async runtime's workers).
///
/// Each waiting writer is woken alone when its turn comes (its thread is unparked), so a
/// handover costs one wake-up however many wait.
#[derive(Debug, Default)]
pub struct WriteGate {
    state: Mutex<GateState>,
}

#[derive(Debug, Default)]
struct GateState {
    held: bool,
    /// Tickets waiting, with the thread that waits for each.
    waiting: std::collections::BTreeMap<
        Option<Namespace>,
        std::collections::VecDeque<(u64, std::thread::Thread)>,
    >,
    next_ticket: u64,
    granted: Option<u64>,
    last: Option<Option<Namespace>>,
}

/// A turn at the writer; the next one is handed out when it is dropped.
#[must_use = "the turn ends when this is dropped"]
pub struct Turn<'a>(&'a WriteGate);

impl WriteGate {
    /// Waits for `namespace`'s turn at the writer.
    pub fn enter(&self, namespace: Option<&Namespace>) -> Turn<'_> {
        let mut st = self.state.lock().expect("write gate lock");
        if !st.held && st.waiting.is_empty() {
            st.held = true;
            st.last = Some(namespace.cloned());
            return Turn(self);
        }
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.waiting
            .entry(namespace.cloned())
            .or_default()
            .push_back((ticket, std::thread::current()));
        loop {
            drop(st);
            // A wake-up meant for an earlier turn of this thread is harmless: check again.
            std::thread::park();
            st = self.state.lock().expect("write gate lock");
            if st.granted == Some(ticket) {
                st.granted = None;
                return Turn(self);
            }
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock().expect("write gate lock");
        // The first namespace after the last served one, cyclically, that has a writer waiting.
        let next = match &st.last {
            Some(last) => st
                .waiting
                .range::<Option<Namespace>, _>((
                    std::ops::Bound::Excluded(last),
                    std::ops::Bound::Unbounded,
                ))
                .next()
                .or_else(|| st.waiting.iter().next())
                .map(|(ns, _)| ns.clone()),
            None => st.waiting.keys().next().cloned(),
        };
        let Some(ns) = next else {
            st.held = false;
            return;
        };
        let queue = st.waiting.get_mut(&ns).expect("chosen from the map");
        let (ticket, thread) = queue.pop_front().expect("queues in the map are not empty");
        if queue.is_empty() {
            st.waiting.remove(&ns);
        }
        st.granted = Some(ticket);
        st.last = Some(ns);
        drop(st);
        thread.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ns(s: &str) -> Namespace {
        Namespace::new(s).unwrap()
    }

    #[test]
    fn writers_take_turns_round_robin_between_namespaces() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.enter(Some(&ns("a")));
        let mut threads = Vec::new();
        // Five writers of `a` queue first, then one of `b`.
        for (i, name) in ["a", "a", "a", "a", "a", "b"].into_iter().enumerate() {
            let (g, order) = (gate.clone(), order.clone());
            threads.push(std::thread::spawn(move || {
                let _turn = g.enter(Some(&ns(name)));
                order.lock().unwrap().push(format!("{name}{i}"));
            }));
            // Queue them in this order.
            while gate
                .state
                .lock()
                .unwrap()
                .waiting
                .values()
                .map(|q| q.len())
                .sum::<usize>()
                < i + 1
            {
                std::thread::yield_now();
            }
        }
        drop(first);
        for t in threads {
            t.join().unwrap();
        }
        let order = order.lock().unwrap().clone();
        // `a` just wrote, so `b` goes next, ahead of the four `a` writers queued before it.
        assert_eq!(order[0], "b5", "{order:?}");
        assert_eq!(order.len(), 6);
        assert!(!gate.state.lock().unwrap().held);
    }
}

//! Fair shares of a host-wide pool of slots (Workflow Tasks, activity attempts, Nexus tasks)
//! between namespaces.
//!
//! Each namespace declares its demand (slots it holds plus slots it could use now). The pool
//! divides its capacity max-min fairly over those demands (water-filling): a namespace that
//! wants less than an equal share keeps all it wants, and what it leaves is split between the
//! others. So one namespace alone may use the whole pool (idle capacity is lent), and as soon
//! as another namespace wants slots, the first gets no new slot beyond its share until the
//! other has its own. Running work is never preempted: shares converge as slots are released.
//! A namespace's own quota (for example `max_concurrent_workflow_tasks`) caps it further,
//! outside this module. This module does not know what a slot runs.

use crate::ids::Namespace;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A pool of `capacity` slots shared fairly between namespaces.
#[derive(Debug)]
pub struct FairShare {
    capacity: usize,
    state: Mutex<HashMap<Namespace, Demand>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Demand {
    used: usize,
    wanted: usize,
}

/// A slot of a [`FairShare`]; released when dropped.
#[derive(Debug)]
pub struct Slot {
    pool: Arc<FairShare>,
    namespace: Namespace,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.pool.state.lock().expect("fair share lock");
        if let Some(d) = state.get_mut(&self.namespace) {
            d.used = d.used.saturating_sub(1);
            if d.used == 0 && d.wanted == 0 {
                state.remove(&self.namespace);
            }
        }
    }
}

impl FairShare {
    /// A pool of `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Arc<FairShare> {
        Arc::new(FairShare {
            capacity: capacity.max(1),
            state: Mutex::new(HashMap::new()),
        })
    }

    /// Sets how many more slots `namespace` could use now (0: none). Call it whenever the
    /// demand is known, also when it drops to 0, so that others get the capacity.
    pub fn want(&self, namespace: &Namespace, more: usize) {
        let mut state = self.state.lock().expect("fair share lock");
        let d = state.entry(namespace.clone()).or_default();
        d.wanted = more;
        if d.used == 0 && d.wanted == 0 {
            state.remove(namespace);
        }
    }

    /// Sets every namespace's wish at once: `demand` for those named, 0 for the others.
    pub fn want_only(&self, demand: &HashMap<Namespace, usize>) {
        let mut state = self.state.lock().expect("fair share lock");
        for (ns, d) in state.iter_mut() {
            d.wanted = demand.get(ns).copied().unwrap_or(0);
        }
        for (ns, &n) in demand {
            state.entry(ns.clone()).or_default().wanted = n;
        }
        state.retain(|_, d| d.used > 0 || d.wanted > 0);
    }

    /// Takes up to `n` slots for `namespace`, as many as its fair share and the free capacity
    /// allow. Fewer (or none) when others want their share.
    pub fn acquire(self: &Arc<Self>, namespace: &Namespace, n: usize) -> Vec<Slot> {
        let mut state = self.state.lock().expect("fair share lock");
        {
            let d = state.entry(namespace.clone()).or_default();
            d.wanted = d.wanted.max(n);
        }
        let used: usize = state.values().map(|d| d.used).sum();
        let share = fair_allocation(self.capacity, &state, namespace);
        let d = state.get_mut(namespace).expect("inserted above");
        let k = n
            .min(share.saturating_sub(d.used))
            .min(self.capacity.saturating_sub(used));
        d.used += k;
        d.wanted = d.wanted.saturating_sub(k);
        drop(state);
        (0..k)
            .map(|_| Slot {
                pool: self.clone(),
                namespace: namespace.clone(),
            })
            .collect()
    }

    /// Slots `namespace` holds now.
    #[cfg(test)]
    pub fn used(&self, namespace: &Namespace) -> usize {
        let state = self.state.lock().expect("fair share lock");
        state.get(namespace).map_or(0, |d| d.used)
    }
}

/// The max-min fair allocation of `capacity` to `namespace` given every namespace's demand
/// (held + wanted).
fn fair_allocation(
    capacity: usize,
    state: &HashMap<Namespace, Demand>,
    namespace: &Namespace,
) -> usize {
    let mut demands: Vec<(usize, &Namespace)> = state
        .iter()
        .map(|(ns, d)| (d.used + d.wanted, ns))
        .filter(|(demand, _)| *demand > 0)
        .collect();
    demands.sort();
    let mut left = capacity;
    let mut count = demands.len();
    for (demand, ns) in demands {
        // Equal split of what is left among those not yet served, at least one slot.
        let equal = (left / count).max(1);
        let got = demand.min(equal);
        if ns == namespace {
            return got;
        }
        left = left.saturating_sub(got);
        count -= 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Namespace {
        Namespace::new(s).unwrap()
    }

    #[test]
    fn one_namespace_alone_borrows_the_whole_pool() {
        let pool = FairShare::new(8);
        let a = pool.acquire(&ns("a"), 20);
        assert_eq!(a.len(), 8);
        assert!(pool.acquire(&ns("a"), 1).is_empty(), "the pool is full");
    }

    #[test]
    fn a_waiting_namespace_gets_the_next_slots_up_to_its_share() {
        let pool = FairShare::new(8);
        let mut a = pool.acquire(&ns("a"), 20);
        // b wants 5 and gets nothing: all 8 slots are held.
        assert!(pool.acquire(&ns("b"), 5).is_empty());
        // a releases 4; a may not take them back (its share is 4 now), b may.
        a.truncate(4);
        assert!(pool.acquire(&ns("a"), 4).is_empty(), "a is at its share");
        let b = pool.acquire(&ns("b"), 5);
        assert_eq!(b.len(), 4);
        assert_eq!(pool.used(&ns("a")), 4);
        assert_eq!(pool.used(&ns("b")), 4);
    }

    #[test]
    fn a_small_demand_is_served_whole_and_the_rest_is_lent() {
        let pool = FairShare::new(9);
        let b = pool.acquire(&ns("b"), 1);
        assert_eq!(b.len(), 1);
        pool.want(&ns("b"), 0);
        let a = pool.acquire(&ns("a"), 100);
        assert_eq!(a.len(), 8, "a gets all that b does not want");
        let c = pool.acquire(&ns("c"), 100);
        assert!(c.is_empty(), "full until someone releases");
        drop(a);
        let c = pool.acquire(&ns("c"), 100);
        // c's share: (9 - 1) / 2 = 4 while a still wants slots.
        assert_eq!(c.len(), 4, "c gets its share, not everything a released");
    }

    #[test]
    fn releasing_everything_forgets_the_namespace() {
        let pool = FairShare::new(2);
        let a = pool.acquire(&ns("a"), 1);
        pool.want(&ns("a"), 0);
        drop(a);
        assert!(pool.state.lock().unwrap().is_empty());
    }
}

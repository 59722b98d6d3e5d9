//! The sticky cache is an optimization only: the same scenarios with the cache off, on, on
//! with room for one instance (so instances are evicted between tasks), on with a host
//! restart in the middle, and on with pooled instances (`instance_pool`, slots reused as
//! instances are evicted) record the same histories, event by event.

use serde_json::{Value, json};
use weft::{Client, Limits};
use weft_tests::{TestHost, wait_until};

/// The `semantics` and `steps` workflows with a sticky cache of `entries` instances and
/// `bytes` of memory.
fn test_host(entries: usize, bytes: usize) -> TestHost {
    TestHost::new()
        .limits(Limits {
            sticky_cache_entries: entries,
            sticky_cache_memory_bytes: bytes,
            ..weft_tests::test_limits()
        })
        .steps()
        .workflow("semantics", weft_tests::SEMANTICS)
        .workflow("steps", weft_tests::STEPS)
}

/// Waits until `id` has no Workflow Task pending and no activity or timer under way, so the
/// next input lands at the same place in every variant.
async fn idle(c: &Client, id: &str) {
    wait_until("workflow idle", || {
        let d = c.describe(id).unwrap();
        let h = c.history(id).unwrap();
        let n = |name: &str| h.iter().filter(|e| e.kind.name() == name).count();
        d.pending_workflow_task_attempt.is_none()
            && n("ActivityTaskScheduled") == n("ActivityTaskCompleted")
            && n("TimerStarted") == n("TimerFired")
    })
    .await;
}

/// Events without what differs between executions (times, run ids, seeds, request ids).
fn normalized(c: &Client, id: &str) -> Vec<Value> {
    let run = weft::RunId(0);
    c.history(id)
        .unwrap()
        .iter()
        .map(|e| {
            let mut v = e.to_json(run);
            let o = v.as_object_mut().unwrap();
            o.remove("time_ms");
            o.remove("run_id");
            if let Some(a) = o.get_mut("attributes").and_then(Value::as_object_mut) {
                for k in [
                    "random_seed",
                    "fire_at_ms",
                    "request_id",
                    "new_execution_run_id",
                    "run_id",
                ] {
                    a.remove(k);
                }
            }
            v
        })
        .collect()
}

const IDS: [&str; 7] = ["a", "b", "u", "p", "kid", "loop", "steps"];

/// An instance pool with a few slots more than `entries` cached instances and the
/// concurrent Workflow Tasks of the test hosts' limits need.
fn room_beyond(entries: u32) -> u32 {
    entries + weft_tests::test_limits().max_concurrent_workflow_tasks as u32 + 8
}

/// Starts `t`'s host, with an instance pool of `pool` slots if set.
async fn start(t: &TestHost, pool: Option<u32>) -> weft::Host {
    match pool {
        None => t.start().await,
        Some(n) => t.builder().instance_pool(n).start().await.unwrap(),
    }
}

/// Runs every scenario; with `restart`, the host is restarted half way.
async fn scenarios(
    entries: usize,
    bytes: usize,
    restart: bool,
    pool: Option<u32>,
) -> (Vec<Vec<Value>>, weft::CacheStats) {
    let t = test_host(entries, bytes);
    let mut h = start(&t, pool).await;
    let mut c = h.namespace("default").unwrap();
    // Two signal workflows driven in turns: with one cache slot they evict each other.
    for id in ["a", "b"] {
        c.start_workflow("semantics", id, json!({"mode": "signals"}))
            .await
            .unwrap();
        idle(&c, id).await;
    }
    c.start_workflow("semantics", "u", json!({"mode": "update"}))
        .await
        .unwrap();
    idle(&c, "u").await;
    for v in 1..=3 {
        for id in ["a", "b"] {
            c.signal(id, "add", json!(v)).await.unwrap();
            idle(&c, id).await;
        }
        c.update_with_id("u", &format!("u{v}"), "add", json!(v))
            .await
            .unwrap();
        idle(&c, "u").await;
        let tally = c.query("a", "tally", json!(null)).await.unwrap();
        assert_eq!(tally["seen"].as_array().unwrap().len(), v as usize);
        if restart && v == 2 {
            drop(c);
            h.shutdown().await;
            h = start(&t, pool).await;
            c = h.namespace("default").unwrap();
        }
    }
    for id in ["a", "b"] {
        c.signal(id, "done", json!(null)).await.unwrap();
        c.result(id).await.unwrap();
    }
    c.signal("u", "finish", json!(null)).await.unwrap();
    c.result("u").await.unwrap();
    c.start_workflow(
        "semantics",
        "p",
        json!({"mode": "parent", "children": ["kid"], "child_mode": "child", "wait": true}),
    )
    .await
    .unwrap();
    c.result("p").await.unwrap();
    c.start_workflow("semantics", "loop", json!({"mode": "continue", "n": 3}))
        .await
        .unwrap();
    c.result("loop").await.unwrap();
    c.start_workflow("steps", "steps", json!({"count": 5, "sleep_ms": 10}))
        .await
        .unwrap();
    c.result("steps").await.unwrap();
    let histories = IDS.iter().map(|id| normalized(&c, id)).collect();
    let stats = h.cache_stats();
    drop(c);
    h.shutdown().await;
    (histories, stats)
}

#[tokio::test]
async fn cached_evicted_and_restarted_instances_record_the_same_histories() {
    const MIB: usize = 1024 * 1024;
    let (off, stats) = scenarios(0, 512 * MIB, false, None).await;
    assert_eq!(stats, weft::CacheStats::default());
    // On; one slot; a memory budget smaller than one instance; a restart half way; one slot
    // and a restart with pooled instances.
    for (entries, bytes, restart, pool) in [
        (128, 512 * MIB, false, None),
        (1, 512 * MIB, false, None),
        (128, 1, false, None),
        (128, 512 * MIB, true, None),
        (1, 512 * MIB, false, Some(room_beyond(1))),
        (128, 512 * MIB, true, Some(room_beyond(128))),
    ] {
        let (on, stats) = scenarios(entries, bytes, restart, pool).await;
        for (k, id) in IDS.iter().enumerate() {
            assert_eq!(
                off[k].len(),
                on[k].len(),
                "{id}: cache {entries} restart {restart}:\n{:#?}\n{:#?}",
                off[k],
                on[k]
            );
            for (a, b) in off[k].iter().zip(&on[k]) {
                assert_eq!(a, b, "{id}: cache {entries} restart {restart}");
            }
        }
        if bytes == 1 {
            // Every instance is above the budget: none is kept.
            assert_eq!((stats.entries, stats.hits), (0, 0), "{stats:?}");
            assert!(stats.evictions > 0, "{stats:?}");
            continue;
        }
        assert!(stats.hits > 0, "the cache was used: {stats:?}");
        if entries == 1 {
            assert!(
                stats.evictions > 0,
                "one slot for two workflows evicts: {stats:?}"
            );
        }
    }
}

#[tokio::test]
async fn an_instance_pool_without_room_beyond_the_cache_is_refused() {
    let t = test_host(128, 512 << 20);
    let err = t.builder().instance_pool(100).start().await.err().unwrap();
    let message = err.to_string();
    assert!(
        message.contains("instance pool of 100") && message.contains("128"),
        "{message}"
    );
}

/// Threads of this process.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_instances_hold_no_thread() {
    const N: usize = 200;
    let t = TestHost::new()
        .limits(Limits {
            sticky_cache_entries: 4 * N,
            sticky_cache_memory_bytes: 8 << 30,
            ..weft_tests::test_limits()
        })
        .workflow("semantics", weft_tests::SEMANTICS);
    let h = t.start().await;
    let c = h.namespace("default").unwrap();
    c.start_workflow("semantics", "first", json!({"mode": "signals"}))
        .await
        .unwrap();
    wait_until("the first instance cached", || h.cache_stats().entries == 1).await;
    let before = threads();
    for i in 0..N {
        c.start_workflow("semantics", &format!("w{i}"), json!({"mode": "signals"}))
            .await
            .unwrap();
    }
    wait_until("every instance cached", || h.cache_stats().entries == N + 1).await;
    let after = threads();
    // Each instance waits on a fiber of its own, not on a thread: the process keeps its
    // threads (a few may come and go in the runtime's pools and the other tests).
    assert!(
        after < before + N / 2,
        "{N} more cached instances took {} more threads",
        after.saturating_sub(before)
    );
    // They resume: a signal reaches a cached instance.
    c.signal("w7", "add", json!(5)).await.unwrap();
    wait_until("the signal handled", || {
        c.history("w7")
            .unwrap()
            .iter()
            .filter(|e| e.kind.name() == "WorkflowTaskCompleted")
            .count()
            == 2
    })
    .await;
    let tally = c.query("w7", "tally", json!(null)).await.unwrap();
    assert_eq!(tally["seen"], json!([5]), "{tally}");
    assert!(h.cache_stats().hits >= 1, "{:?}", h.cache_stats());
    drop(c);
    h.shutdown().await;
}

//! The order workflow in Rust, Python and TypeScript side by side:
//! `cargo bench -p weft-tests --bench languages`. For each component it prints the medians of
//! - `compile`: a cold compile (what registration and a start without the cache cost),
//! - `cached load`: loading the compiled code from the on-disk cache (a restart),
//! - `instantiate+replay`: `verify_replay` of a closed order run, which instantiates the
//!   component and replays its whole history once,
//! - `workflow`: start to result of an order run (two concurrent activities, a 0 ms timer, a
//!   third activity) with the sticky cache off (every task instantiates and replays) and on
//!   (tasks resume the suspended instance), and that time per Workflow Task.

use serde_json::json;
use std::time::{Duration, Instant};
use weft::history::EventKind;
use weft::{Host, HostBuilder, Limits, WorkflowOutcome};
use weft_wasm::Sandbox;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn host(
    db: &std::path::Path,
    cache: &std::path::Path,
    component: &str,
    sticky: usize,
) -> Host {
    let limits = Limits {
        sticky_cache_entries: sticky,
        ..Limits::default()
    };
    let ok = |v: serde_json::Value| {
        move |_c: weft::ActivityContext, _i: serde_json::Value| {
            let v = v.clone();
            async move { Ok::<_, weft::ActivityError>(v) }
        }
    };
    HostBuilder::new(db)
        .limits(limits)
        .compile_cache(cache)
        .workflow_file("order", component)
        .activity("reserve_inventory", ok(json!({"reservation_id": "rsv-1"})))
        .activity("charge_card", ok(json!({"charge_id": "ch-1"})))
        .activity("ship_order", ok(json!({"tracking_number": "TRK-1"})))
        .start()
        .await
        .unwrap()
}

/// Median start-to-result time of `n` order runs, and Workflow Tasks per run.
async fn workflows(host: &Host, prefix: &str, n: usize) -> (Duration, usize) {
    let input = json!({
        "order_id": "o-1",
        "items": [{"sku": "mug", "quantity": 2, "price_cents": 1250}],
        "card": {"number": "4242"},
        "ship_after_ms": 0,
    });
    let mut times = Vec::new();
    let mut tasks = 0;
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let t = Instant::now();
        host.start_workflow("order", &id, input.clone())
            .await
            .unwrap();
        let outcome = host.result(&id).await.unwrap();
        times.push(t.elapsed());
        assert!(
            matches!(outcome, WorkflowOutcome::Completed(_)),
            "{outcome:?}"
        );
        tasks = host
            .history(&id)
            .unwrap()
            .iter()
            .filter(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
            .count();
    }
    (median(times), tasks)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    println!(
        "{:<11} {:>9} {:>10} {:>12} {:>19} {:>13} {:>13} {:>12} {:>12}",
        "language",
        "bytes",
        "compile",
        "cached load",
        "instantiate+replay",
        "wf cache off",
        "wf cache on",
        "task off",
        "task on"
    );
    for (language, path) in [
        ("rust", weft_tests::ORDER),
        ("python", weft_tests::PY_ORDER),
        ("typescript", weft_tests::TS_ORDER),
    ] {
        let bytes = std::fs::read(path).unwrap();
        let cache = dir.path().join(format!("cache-{language}"));
        let compile = median(
            (0..3)
                .map(|_| {
                    let s = Sandbox::new(limits.clone()).unwrap();
                    let t = Instant::now();
                    assert!(!s.compile("order", &bytes).unwrap().from_cache());
                    t.elapsed()
                })
                .collect(),
        );
        let cached = || {
            Sandbox::new(limits.clone())
                .unwrap()
                .with_compile_cache(&cache)
                .unwrap()
        };
        cached().compile("order", &bytes).unwrap();
        let load = median(
            (0..7)
                .map(|_| {
                    let s = cached();
                    let t = Instant::now();
                    assert!(s.compile("order", &bytes).unwrap().from_cache());
                    t.elapsed()
                })
                .collect(),
        );
        let (replay, off, on, tasks) = rt.block_on(async {
            let cold = host(
                &dir.path().join(format!("{language}-off.redb")),
                &cache,
                path,
                0,
            )
            .await;
            workflows(&cold, "warmup", 2).await;
            let (off, tasks) = workflows(&cold, "off", 15).await;
            let replay = median(
                (0..7)
                    .map(|i| {
                        let t = Instant::now();
                        cold.verify_replay(&format!("off-{i}")).unwrap();
                        t.elapsed()
                    })
                    .collect(),
            );
            cold.shutdown().await;
            let warm = host(
                &dir.path().join(format!("{language}-on.redb")),
                &cache,
                path,
                64,
            )
            .await;
            workflows(&warm, "warmup", 2).await;
            let (on, _) = workflows(&warm, "on", 15).await;
            warm.shutdown().await;
            (replay, off, on, tasks)
        });
        println!(
            "{:<11} {:>9} {:>10} {:>12} {:>19} {:>13} {:>13} {:>12} {:>12}",
            language,
            bytes.len(),
            ms(compile),
            ms(load),
            ms(replay),
            ms(off),
            ms(on),
            ms(off / tasks as u32),
            ms(on / tasks as u32)
        );
    }
}

//! Speed of the real path: `cargo bench -p weft-tests`.
//!
//! - `order_end_to_end`: start the order workflow (two concurrent activities, a 0 ms timer,
//!   a third activity) and wait for its result: five Workflow Tasks and their commits.
//! - `replay_history/N`: replay the complete history of a closed `steps` run of N steps
//!   (activity + timer each, about 10 events per step) against its component, as every
//!   non-cached Workflow Task of a run that long does.
//! - `steps_end_to_end/{cache_off,cache_on}/N`: a `steps` run of N steps (2N+1 Workflow
//!   Tasks) from start to result, each task replaying the whole history (cache off) or
//!   resuming the suspended instance (sticky cache on).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use weft::{ActivityContext, ActivityError, HostBuilder, WorkflowOutcome};

#[derive(Deserialize)]
struct Step {
    i: u32,
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = rt.block_on(async {
        HostBuilder::new(dir.path().join("bench.redb"))
            .workflow_file("order", weft_tests::ORDER)
            .workflow_file("steps", weft_tests::STEPS)
            .activity(
                "reserve_inventory",
                |_c: ActivityContext, _i: Value| async move {
                    Ok::<_, ActivityError>(json!({"reservation_id": "rsv-1"}))
                },
            )
            .activity("charge_card", |_c: ActivityContext, _i: Value| async move {
                Ok::<_, ActivityError>(json!({"charge_id": "ch-1"}))
            })
            .activity("ship_order", |_c: ActivityContext, _i: Value| async move {
                Ok::<_, ActivityError>(json!({"tracking_number": "TRK-1"}))
            })
            .activity("step", |_c: ActivityContext, s: Step| async move {
                Ok::<_, ActivityError>(format!("step-{}", s.i))
            })
            .start()
            .await
            .unwrap()
    });
    let next = AtomicU64::new(0);

    let mut g = c.benchmark_group("workflow");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("order_end_to_end", |b| {
        b.iter(|| {
            let id = format!("o-{}", next.fetch_add(1, Ordering::Relaxed));
            rt.block_on(async {
                let input = json!({
                    "order_id": id,
                    "items": [{"sku": "tea", "quantity": 2, "price_cents": 650}],
                    "card": {"number": "4242"},
                    "ship_after_ms": 0
                });
                host.start_workflow("order", &id, input).await.unwrap();
                let outcome = host.result(&id).await.unwrap();
                assert!(matches!(outcome, WorkflowOutcome::Completed(_)));
            })
        })
    });
    for steps in [10u32, 100] {
        let id = format!("steps-{steps}");
        rt.block_on(async {
            host.start_workflow("steps", &id, json!({"count": steps, "sleep_ms": 0}))
                .await
                .unwrap();
            host.result(&id).await.unwrap();
        });
        let events = host.history(&id).unwrap().len();
        g.bench_with_input(
            BenchmarkId::new("replay_history", format!("{steps}_steps_{events}_events")),
            &id,
            |b, id| b.iter(|| host.verify_replay(id).unwrap()),
        );
    }
    g.finish();
    rt.block_on(host.shutdown());

    let mut g = c.benchmark_group("steps_end_to_end");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, entries) in [("cache_off", 0), ("cache_on", 128)] {
        let dir = tempfile::tempdir().unwrap();
        let host = rt.block_on(async {
            HostBuilder::new(dir.path().join("steps.redb"))
                .limits(weft::Limits {
                    sticky_cache_entries: entries,
                    ..weft::Limits::default()
                })
                .workflow_file("steps", weft_tests::STEPS)
                .activity("step", |_c: ActivityContext, s: Step| async move {
                    Ok::<_, ActivityError>(format!("step-{}", s.i))
                })
                .start()
                .await
                .unwrap()
        });
        for steps in [40u32, 150] {
            g.bench_with_input(BenchmarkId::new(name, steps), &steps, |b, steps| {
                b.iter(|| {
                    let id = format!("s-{}", next.fetch_add(1, Ordering::Relaxed));
                    rt.block_on(async {
                        host.start_workflow("steps", &id, json!({"count": steps, "sleep_ms": 0}))
                            .await
                            .unwrap();
                        host.result(&id).await.unwrap();
                    })
                })
            });
        }
        rt.block_on(host.shutdown());
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

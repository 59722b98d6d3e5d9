//! A neighbour's latency next to a fan-out tenant: `cargo bench -p weft-tests --bench fairness`.
//!
//! Namespace `calm` runs a 3-step workflow (activity + 0 ms timer per step) one at a time;
//! namespace `busy` keeps eight workflows running that each schedule 999 activities at once
//! (checked to be still running when the measurement ends). Prints the
//! median and p90 of the neighbour's start-to-result latency alone and next to the fan-out,
//! and their ratio. What keeps the ratio low: the host's slots are shared fairly
//! (`fair::FairShare`) and commits take turns between namespaces (`fair::WriteGate`); what is
//! left is the neighbour's own commits each waiting for at most one commit of the fan-out,
//! and the CPU the fan-out uses.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use weft::{ActivityContext, ActivityError, Client, HostBuilder, WorkflowOutcome};

#[derive(Deserialize)]
struct Step {
    i: u32,
}

async fn three_steps(calm: &Client, id: &str) -> Duration {
    let start = Instant::now();
    calm.start_workflow("steps", id, json!({"count": 3, "sleep_ms": 0}))
        .await
        .unwrap();
    let r = calm.result(id).await.unwrap();
    assert!(matches!(r, WorkflowOutcome::Completed(_)), "{r:?}");
    start.elapsed()
}

fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 9 / 10])
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
    rt.block_on(async {
        let host = HostBuilder::new(dir.path().join("fairness.redb"))
            .namespace("busy", |ns| {
                ns.workflow_file("fanout", weft_tests::FANOUT).activity(
                    "work",
                    |_c: ActivityContext, v: Value| async move {
                        Ok::<_, ActivityError>(v["i"].as_u64().unwrap())
                    },
                )
            })
            .namespace("calm", |ns| {
                ns.workflow_file("steps", weft_tests::STEPS).activity(
                    "step",
                    |_c: ActivityContext, s: Step| async move {
                        Ok::<_, ActivityError>(format!("step-{}", s.i))
                    },
                )
            })
            .start()
            .await
            .unwrap();
        let calm = host.namespace("calm").unwrap();
        let busy = host.namespace("busy").unwrap();
        let n = 30;
        let mut quiet = Vec::new();
        for i in 0..n {
            quiet.push(three_steps(&calm, &format!("quiet-{i}")).await);
        }
        // Keep the fan-out tenant busy for the whole loaded phase: several 999-way fan-outs at
        // once, checked to be still running when the phase ends.
        let fans = 8;
        for f in 0..fans {
            busy.start_workflow("fanout", &format!("fan-{f}"), json!({"n": 999}))
                .await
                .unwrap();
        }
        let mut loaded = Vec::new();
        for i in 0..n {
            loaded.push(three_steps(&calm, &format!("loaded-{i}")).await);
        }
        let still_running = (0..fans)
            .filter(|f| {
                !busy
                    .describe(&format!("fan-{f}"))
                    .unwrap()
                    .status
                    .is_closed()
            })
            .count();
        println!(
            "fan-outs still running at the end of the loaded phase: {still_running} of {fans}"
        );
        let (q50, q90) = summary(quiet);
        let (l50, l90) = summary(loaded);
        println!("neighbour 3-step workflow, {n} runs each");
        println!("  alone:                 p50 {q50:?}  p90 {q90:?}");
        println!("  next to 999-way fan-out: p50 {l50:?}  p90 {l90:?}");
        println!(
            "  ratio p50 {:.2}x  p90 {:.2}x",
            l50.as_secs_f64() / q50.as_secs_f64(),
            l90.as_secs_f64() / q90.as_secs_f64()
        );
        drop((calm, busy));
        host.shutdown().await;
    });
}

//! What the HTTP layer costs: `cargo bench -p weft-tests --bench http`.
//!
//! The same workload twice on one machine: a one-activity workflow (`steps` with count 1: an
//! activity, then a 0 ms timer) started and waited for, its activity served by remote workers.
//! Once through `weft server`'s HTTP API (start, long-poll the result; workers poll and complete
//! over HTTP), once through the in-process `Client` (start, `result`; workers on
//! `poll_activity_task`/`complete_activity`). Each runs sequentially (one client) and with 64
//! concurrent clients; the bench prints the medians and the HTTP/in-process ratio of each.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weft::{Client, HostBuilder, Payload, WorkflowOutcome};

const SEQUENTIAL: usize = 60;
const CLIENTS: usize = 64;
const PER_CLIENT: usize = 4;
const WORKERS: usize = 8;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `runs` start-and-wait calls on each of `clients` threads; every latency.
fn drive(clients: usize, runs: usize, one: Arc<dyn Fn(String) + Send + Sync>) -> Vec<Duration> {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let one = one.clone();
            std::thread::spawn(move || {
                (0..runs)
                    .map(|r| {
                        let t = Instant::now();
                        one(format!("wf-{c}-{r}-{}", rand_suffix()));
                        t.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

fn measure(label: &str, one: Arc<dyn Fn(String) + Send + Sync>) -> (Duration, Duration) {
    drive(4, 2, one.clone()); // warm up
    let seq = median(drive(1, SEQUENTIAL, one.clone()));
    let conc = median(drive(CLIENTS, PER_CLIENT, one));
    println!("{label:<11} sequential p50 {seq:>10.2?}   {CLIENTS} clients p50 {conc:>10.2?}");
    (seq, conc)
}

fn http_side(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (Duration, Duration) {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = weft_server::ServerConfig::load(&weft_server::ServerArgs {
        data_dir: Some(dir.to_path_buf()),
        listen: Some("127.0.0.1:0".into()),
        config: None,
    })
    .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(weft_server::serve(config, listener, async move {
        let _ = stop_rx.await;
    }));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    // Open mode (loopback, no keys): no key needed.
    let wasm = std::fs::read(weft_tests::STEPS).unwrap();
    let r = agent
        .post(format!("{base}/v1/components/steps"))
        .header("Content-Type", "application/wasm")
        .send(&wasm[..])
        .unwrap();
    assert_eq!(r.status(), 201);
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (agent, base, done) = (agent.clone(), base.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let mut r = agent
                        .post(format!("{base}/v1/task-queues/default/activity-tasks/poll"))
                        .send_json(json!({"wait_ms": 200}))
                        .unwrap();
                    if r.status() != 200 {
                        continue;
                    }
                    let task: Value = r.body_mut().read_json().unwrap();
                    let result = format!("step-{}", task["input"]["i"]);
                    let r = agent
                        .post(format!("{base}/v1/activity-tasks/complete"))
                        .send_json(json!({"task_token": task["task_token"], "result": result}))
                        .unwrap();
                    assert_eq!(r.status(), 204);
                }
            })
        })
        .collect();
    let one: Arc<dyn Fn(String) + Send + Sync> = {
        let (agent, base) = (agent.clone(), base.clone());
        Arc::new(move |id: String| {
            let r = agent
                .post(format!("{base}/v1/workflows"))
                .send_json(json!({"workflow_id": id, "workflow_type": "steps",
                    "input": {"count": 1, "sleep_ms": 0}}))
                .unwrap();
            assert_eq!(r.status(), 201);
            loop {
                let mut r = agent
                    .get(format!("{base}/v1/workflows/{id}/result?wait_ms=60000"))
                    .call()
                    .unwrap();
                let v: Value = r.body_mut().read_json().unwrap();
                if v["done"] == json!(true) {
                    assert_eq!(v["status"], "completed", "{v}");
                    break;
                }
            }
        })
    };
    let figures = measure("http", one);
    done.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let _ = stop_tx.send(());
    rt.block_on(server).unwrap().unwrap();
    figures
}

fn in_process_side(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (Duration, Duration) {
    let host = rt
        .block_on(
            HostBuilder::new(dir.join("in-process.redb"))
                .namespace("default", |ns| {
                    ns.workflow_file("steps", weft_tests::STEPS)
                        .remote_activities()
                })
                .start(),
        )
        .unwrap();
    let client = host.namespace("default").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (c, done) = (client.clone(), done.clone());
            rt.spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let Some(task) = c
                        .poll_activity_task("default", Duration::from_millis(200))
                        .await
                        .unwrap()
                    else {
                        continue;
                    };
                    let result = json!(format!("step-{}", task.input.to_json()["i"]));
                    c.complete_activity(&task.task_token, Payload::json(&result))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let handle = rt.handle().clone();
    let one: Arc<dyn Fn(String) + Send + Sync> = {
        let c: Client = client.clone();
        Arc::new(move |id: String| {
            handle.block_on(async {
                c.start_workflow("steps", &id, json!({"count": 1, "sleep_ms": 0}))
                    .await
                    .unwrap();
                let r = c.result(&id).await.unwrap();
                assert!(matches!(r, WorkflowOutcome::Completed(_)), "{r:?}");
            })
        })
    };
    let figures = measure("in-process", one);
    done.store(true, Ordering::Relaxed);
    for w in workers {
        rt.block_on(w).unwrap();
    }
    drop(client);
    rt.block_on(host.shutdown());
    figures
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
    let (local_seq, local_conc) = in_process_side(&rt, dir.path());
    let (http_seq, http_conc) = http_side(&rt, &dir.path().join("server"));
    println!(
        "HTTP / in-process: sequential {:.2}x (+{:.2?} per workflow), {CLIENTS} clients {:.2}x",
        http_seq.as_secs_f64() / local_seq.as_secs_f64(),
        http_seq.saturating_sub(local_seq),
        http_conc.as_secs_f64() / local_conc.as_secs_f64(),
    );
}

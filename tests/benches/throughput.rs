//! The throughput suite: `cargo bench -p weft-tests --bench throughput`.
//!
//! Real database file (in the system's temporary directory, or `WEFT_BENCH_DIR`), default
//! durability, the script guest (`tests/guests/script`) with an echo activity. Prints one table
//! and, on its last line, the same figures as JSON (also written to `WEFT_BENCH_JSON` if set):
//! - `fsync`: a 4 KiB write and `fdatasync` of a file beside the database, p50 and p99: the
//!   disk's floor under any durable commit, measured in the same run;
//! - `one_at_a_time`: one-activity workflows started one after another, start to result p50;
//! - `in_flight_64`: one-activity workflows, 64 in flight, workflows/s;
//! - `activity_step`: (T100 - T10) / 90 for workflows of 100 and 10 sequential activities;
//! - `timer_step`: the same with a 0 ms timer after each activity, less the activity step;
//! - `cold_replay`: `verify_replay` of a closed run of about 10,000 events (load, decode,
//!   instantiate, replay), p50;
//! - `step_by_history_size`: the mean activity step of that run early (steps 10-113, a
//!   history of 60-680 events) and late (steps 1,454-1,557, 8,700-9,300 events), from its
//!   events' times: with the sticky cache a step costs what the history gained, so the two
//!   should match;
//! - `sleepers`: `WEFT_BENCH_SLEEPERS` (default 2,000) workflows started 64 at a time that
//!   each park on a one-day timer (none fires while the run lasts, even for a million):
//!   starts/s once each has run its first task, and the process's RSS growth per 10,000
//!   parked;
//! - `sleepers_pooled`: the same on a host with an instance pool (`instance_pool`).
//!
//! - `in_flight_64_per_workflow`: commits (each two fsyncs in the default file mode) and
//!   writes per workflow in the 64-in-flight run: what group commit saves;
//! - `exclusive_file`: one at a time, 64 in flight and the activity step again on a host
//!   with `live_readers(false)` (one fsync per commit).
//!
//! `WEFT_BENCH_QUICK=1` runs each figure with a tenth of the work (a smoke run);
//! `WEFT_BENCH_IN_FLIGHT=N` only runs N workflows 64 in flight and prints their rate, and
//! `WEFT_BENCH_COLD_REPLAY=N` only replays the 10,000-event run N times (for profiling), and
//! `WEFT_BENCH_CLOSED=N` only compares the 64-in-flight rate on an empty database with the
//! rate once N more closed workflows are in it.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::{ActivityContext, ActivityError, Host, HostBuilder, WorkflowOutcome};

fn quick() -> bool {
    std::env::var("WEFT_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn scaled(n: usize) -> usize {
    if quick() { (n / 10).max(2) } else { n }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn activities(n: usize, timer: bool) -> Value {
    let mut steps = Vec::new();
    for _ in 0..n {
        steps.push(json!({"activity": {"name": "a"}}));
        if timer {
            steps.push(json!({"timer": {"ms": 0}}));
        }
    }
    json!({ "steps": steps })
}

/// Mean time of an activity step of the run `id` over its steps `from..to` (by the times of
/// its ActivityTaskScheduled events, milliseconds): early and late steps of one long run show
/// whether a step's cost grows with the history.
fn step_ms_between(host: &Host, id: &str, from: usize, to: usize) -> f64 {
    let scheduled: Vec<u64> = host
        .history(id)
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                weft::history::EventKind::ActivityTaskScheduled { .. }
            )
        })
        .map(|e| e.time_ms)
        .collect();
    (scheduled[to] - scheduled[from]) as f64 / (to - from) as f64
}

/// p50 and p99 of a 4 KiB write + fdatasync in `dir`.
fn fsync_latency(dir: &std::path::Path) -> (Duration, Duration) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let page = [7u8; 4096];
    let mut times = Vec::new();
    for _ in 0..scaled(300) {
        let began = Instant::now();
        f.write_all(&page).unwrap();
        f.sync_data().unwrap();
        times.push(began.elapsed());
    }
    (pct(times.clone(), 0.5), pct(times, 0.99))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

async fn run_one(host: &Host, id: &str, input: Value) -> Duration {
    let began = Instant::now();
    host.start_workflow("script", id, input).await.unwrap();
    let outcome = host.result(id).await.unwrap();
    assert!(
        matches!(outcome, WorkflowOutcome::Completed(_)),
        "{outcome:?}"
    );
    began.elapsed()
}

/// Runs `count` one-activity workflows with `in_flight` at a time; returns workflows/s.
async fn in_flight(host: &Arc<Host>, prefix: &str, count: usize, in_flight: usize) -> f64 {
    let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..count {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let host = host.clone();
        let id = format!("{prefix}-{i}");
        tasks.push(tokio::spawn(async move {
            run_one(&host, &id, activities(1, false)).await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    count as f64 / began.elapsed().as_secs_f64()
}

/// Start-to-result p50 of `n` one-activity workflows run one after another, after five to warm
/// up (compile, first commits).
async fn one_at_a_time(host: &Host, n: usize) -> Duration {
    for i in 0..5 {
        run_one(host, &format!("warm-{i}"), activities(1, false)).await;
    }
    let mut lat = Vec::new();
    for i in 0..n {
        lat.push(run_one(host, &format!("one-{i}"), activities(1, false)).await);
    }
    pct(lat, 0.5)
}

/// Instances the pooled host reserves: the sticky cache's 128, one Workflow Task per core,
/// and room to spare for the 64 starts in flight.
const POOL: u32 = 512;

/// Starts `n` workflows, 64 at a time, that each park on a one-day timer; returns the start
/// rate once each has run its first task, and the RSS grown per 10,000 parked, MiB.
async fn park(host: &Arc<Host>, prefix: &str, n: usize) -> (f64, f64) {
    let before = rss_kib();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let began = Instant::now();
    let mut tasks = Vec::new();
    let parked = json!({"steps": [{"timer": {"ms": 86_400_000}}]});
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let host = host.clone();
        let input = parked.clone();
        let id = format!("{prefix}-{i}");
        tasks.push(tokio::spawn(async move {
            host.start_workflow("script", &id, input).await.unwrap();
            // Parked once its first task has committed the timer.
            while host.history(&id).unwrap().len() < 5 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = n as f64 / began.elapsed().as_secs_f64();
    let grown = rss_kib().saturating_sub(before) as f64 / 1024.0;
    (rate, grown * 10_000.0 / n as f64)
}

/// The cost of one more step, (T100 - T10) / 90 (with a 0 ms timer after each activity if
/// `timer`), the median of three rounds.
async fn step_time(host: &Host, label: &str, timer: bool) -> Duration {
    let (small, big) = if quick() { (2, 11) } else { (10, 100) };
    let mut per = Vec::new();
    for round in 0..3 {
        let t_small = run_one(
            host,
            &format!("{label}-s-{round}"),
            activities(small, timer),
        )
        .await;
        let t_big = run_one(host, &format!("{label}-b-{round}"), activities(big, timer)).await;
        per.push((t_big.saturating_sub(t_small)) / (big - small) as u32);
    }
    pct(per, 0.5)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = match std::env::var_os("WEFT_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let (fsync_p50, fsync_p99) = fsync_latency(dir.path());
    let host = Arc::new(rt.block_on(async {
        HostBuilder::new(dir.path().join("bench.redb"))
            .workflow_file("script", weft_tests::SCRIPT)
            .activity("a", |_c: ActivityContext, v: Value| async move {
                Ok::<_, ActivityError>(v)
            })
            .start()
            .await
            .unwrap()
    }));
    let mut rows: Vec<(&str, String, Value)> = Vec::new();
    let fsync = json!({"p50_ms": ms(fsync_p50), "p99_ms": ms(fsync_p99)});
    rows.push((
        "4 KiB write + fdatasync (p50 / p99)",
        format!("{:.3} ms / {:.3} ms", ms(fsync_p50), ms(fsync_p99)),
        fsync.clone(),
    ));

    if let Some(n) = std::env::var("WEFT_BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let rate = rt.block_on(async {
            for i in 0..5 {
                run_one(&host, &format!("warm-{i}"), activities(1, false)).await;
            }
            in_flight(&host, "fl", n, 64).await
        });
        println!("{n} one-activity workflows, 64 in flight: {rate:.0}/s");
        return;
    }
    if let Some(n) = std::env::var("WEFT_BENCH_CLOSED")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let sample = scaled(3_000);
        rt.block_on(async {
            for i in 0..5 {
                run_one(&host, &format!("warm-{i}"), activities(1, false)).await;
            }
            let empty = in_flight(&host, "empty", sample, 64).await;
            println!("{sample} one-activity workflows, 64 in flight, empty database: {empty:.0}/s");
            let fill = in_flight(&host, "closed", n, 64).await;
            println!("{n} more closed workflows written at {fill:.0}/s");
            let full = in_flight(&host, "full", sample, 64).await;
            println!(
                "{sample} one-activity workflows, 64 in flight, {} closed in the database: {full:.0}/s ({:.2} of empty)",
                n + sample + 5,
                full / empty
            );
        });
        return;
    }
    if let Some(n) = std::env::var("WEFT_BENCH_COLD_REPLAY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let events = rt.block_on(async {
            run_one(&host, "long", activities(1_660, false)).await;
            host.history("long").unwrap().len()
        });
        let began = Instant::now();
        for _ in 0..n {
            host.verify_replay("long").unwrap();
        }
        let each = began.elapsed() / n as u32;
        println!(
            "cold replay of {events} events, {n} times: {:.2} ms each",
            ms(each)
        );
        println!(
            "activity step at steps 10-110 / 1,550-1,650: {:.3} / {:.3} ms",
            step_ms_between(&host, "long", 10, 110),
            step_ms_between(&host, "long", 1_550, 1_650)
        );
        return;
    }
    rt.block_on(async {
        let p50 = one_at_a_time(&host, scaled(300)).await;
        rows.push((
            "one-activity start to result, one at a time (p50)",
            format!("{:.2} ms", ms(p50)),
            json!(ms(p50)),
        ));

        let before = host.commit_stats();
        let count = scaled(3_000);
        let rate = in_flight(&host, "fl", count, 64).await;
        let after = host.commit_stats();
        rows.push((
            "one-activity workflows/s, 64 in flight",
            format!("{rate:.0}"),
            json!(rate),
        ));
        // weft opens its file so that the command line can read it while a host runs, a mode
        // in which redb syncs twice per commit.
        let commits = (after.commits - before.commits) as f64 / count as f64;
        let writes = (after.writes - before.writes) as f64 / count as f64;
        rows.push((
            "64 in flight, per workflow: commits (2 fsyncs each) / writes",
            format!("{commits:.2} / {writes:.2}"),
            json!({"commits": commits, "fsyncs": 2.0 * commits, "writes": writes}),
        ));

        let activity_step = step_time(&host, "act", false).await;
        let with_timer = step_time(&host, "tmr", true).await;
        let timer_step = with_timer.saturating_sub(activity_step);
        rows.push((
            "per activity step, (T100 - T10) / 90",
            format!("{:.3} ms", ms(activity_step)),
            json!(ms(activity_step)),
        ));
        rows.push((
            "per timer step (0 ms timer), beyond the activity step",
            format!("{:.3} ms", ms(timer_step)),
            json!(ms(timer_step)),
        ));

        // About 10,000 events: six per activity step.
        let n = scaled(1_660);
        run_one(&host, "long", activities(n, false)).await;
        let events = host.history("long").unwrap().len();
        let mut times = Vec::new();
        for _ in 0..5 {
            let began = Instant::now();
            host.verify_replay("long").unwrap();
            times.push(began.elapsed());
        }
        let cold = pct(times, 0.5);
        rows.push((
            "cold replay (p50)",
            format!("{:.2} ms for {events} events", ms(cold)),
            json!({"ms": ms(cold), "events": events}),
        ));
        let (early, late) = (n / 160, n - n / 16);
        let step = |from, to| step_ms_between(&host, "long", from, to);
        let (small, big) = (step(early, early + n / 16), step(late - n / 16, late));
        rows.push((
            "activity step early / late in that run (10,000-event history at the end)",
            format!("{small:.3} ms / {big:.3} ms"),
            json!({"early_ms": small, "late_ms": big}),
        ));

        let sleepers: usize = std::env::var("WEFT_BENCH_SLEEPERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| scaled(2_000));
        let (rate, per_10k) = park(&host, "sleep", sleepers).await;
        rows.push((
            "workflows parked on a timer: started/s, RSS per 10,000",
            format!("{rate:.0}/s, {per_10k:.0} MiB ({sleepers} parked)"),
            json!({"started_per_s": rate, "rss_mib_per_10k": per_10k, "count": sleepers}),
        ));

        // The same on a host with pooled instances: evicting a cached instance for each new
        // one unmaps no memory.
        let pooled = HostBuilder::new(dir.path().join("pooled.redb"))
            .instance_pool(POOL)
            .workflow_file("script", weft_tests::SCRIPT)
            .start()
            .await
            .unwrap();
        let pooled = Arc::new(pooled);
        let (rate, per_10k) = park(&pooled, "pooled", sleepers).await;
        rows.push((
            "the same with an instance pool: started/s, RSS per 10,000",
            format!("{rate:.0}/s, {per_10k:.0} MiB ({sleepers} parked)"),
            json!({"started_per_s": rate, "rss_mib_per_10k": per_10k, "count": sleepers, "pool": POOL}),
        ));
        match Arc::try_unwrap(pooled) {
            Ok(host) => host.shutdown().await,
            Err(_) => unreachable!("every task holding the host has ended"),
        }

        // The same workloads on a host that locks its file exclusively: one sync per commit.
        let exclusive = HostBuilder::new(dir.path().join("exclusive.redb"))
            .live_readers(false)
            .workflow_file("script", weft_tests::SCRIPT)
            .activity("a", |_c: ActivityContext, v: Value| async move {
                Ok::<_, ActivityError>(v)
            })
            .start()
            .await
            .unwrap();
        let exclusive = Arc::new(exclusive);
        let p50 = one_at_a_time(&exclusive, scaled(300)).await;
        let rate = in_flight(&exclusive, "fl", scaled(3_000), 64).await;
        let step = step_time(&exclusive, "act", false).await;
        rows.push((
            "exclusive file: one at a time p50 / 64 in flight / step",
            format!("{:.2} ms / {rate:.0} per s / {:.3} ms", ms(p50), ms(step)),
            json!({"one_at_a_time_p50_ms": ms(p50), "in_flight_64_per_s": rate, "activity_step_ms": ms(step)}),
        ));
        match Arc::try_unwrap(exclusive) {
            Ok(host) => host.shutdown().await,
            Err(_) => unreachable!("every task holding the host has ended"),
        }
    });

    println!(
        "{:<56} | figure",
        "throughput suite (release, fsync durability)"
    );
    println!("{}", "-".repeat(90));
    for (label, figure, _) in &rows {
        println!("{label:<56} | {figure}");
    }
    let keys = [
        "fsync",
        "one_at_a_time_p50_ms",
        "in_flight_64_per_s",
        "in_flight_64_per_workflow",
        "activity_step_ms",
        "timer_step_ms",
        "cold_replay",
        "step_by_history_size",
        "sleepers",
        "sleepers_pooled",
        "exclusive_file",
    ];
    assert_eq!(keys.len(), rows.len(), "a JSON key for every row");
    let figures: serde_json::Map<String, Value> = keys
        .iter()
        .zip(rows.iter())
        .map(|(k, (_, _, v))| (k.to_string(), v.clone()))
        .collect();
    let text = Value::Object(figures).to_string();
    if let Some(path) = std::env::var_os("WEFT_BENCH_JSON") {
        std::fs::write(path, &text).unwrap();
    }
    println!("json: {text}");
    match Arc::try_unwrap(host) {
        Ok(host) => rt.block_on(host.shutdown()),
        Err(_) => unreachable!("every task holding the host has ended"),
    }
}

//! Reaches every WASI import a workflow is linked against, directly (through `wasip2`) and
//! through the standard library, and reports what it saw. Every value must be the same when
//! the history is replayed, and nothing may wait on the host's real clock.
//!
//! Modes (the input's `mode`):
//! - `probe`: the report, before and after an activity (a new Workflow Task, later workflow
//!   time).
//! - `sleep-forever`: `std::thread::sleep(u64::MAX s)` and `block` on a pollable due at the end
//!   of time; a workflow never waits on a clock, so both return at once.
//! - `block-loop`: blocks on a far pollable again and again without end; only the task's time
//!   limit stops it.
//! - `random-flood`: asks for 2 MiB of random bytes in one call, past the host's cap.

use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasip2::cli::{environment, stdin, stdout, terminal_stderr, terminal_stdin, terminal_stdout};
use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::filesystem::preopens;
use wasip2::io::poll;
use wasip2::random::{insecure, insecure_seed, random};
use weft_sdk::{Failure, activity};

/// Loop turns allowed while waiting for a 2 ms pollable that never becomes ready in a task.
const TURNS: u64 = 5_000;

fn report() -> Value {
    let mono_now = monotonic_clock::now();
    let wall = wall_clock::now();
    // Count loop turns until a 2 ms pollable is ready: on a real clock this depends on speed.
    let p = monotonic_clock::subscribe_duration(2_000_000);
    let mut turns = 0u64;
    while !p.ready() && turns < TURNS {
        turns += 1;
        std::hint::black_box(turns);
    }
    // After a fixed amount of work.
    let q = monotonic_clock::subscribe_duration(1_000_000);
    let mut x = 0u64;
    for i in 0..200_000u64 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    let ready_after_work = q.ready();
    let zero = monotonic_clock::subscribe_duration(0).ready();
    let at_now = monotonic_clock::subscribe_instant(mono_now).ready();
    let later = monotonic_clock::subscribe_instant(mono_now + 1_000_000_000);
    let later_ready = later.ready();
    // poll: the earliest clock pollable "passes" at once when none is ready.
    let long = monotonic_clock::subscribe_duration(3_600_000_000_000);
    let short = monotonic_clock::subscribe_duration(1_000_000);
    let polled = poll::poll(&[&long, &short]);
    let short_ready_after_poll = short.ready();
    let ready_now = monotonic_clock::subscribe_duration(0);
    let polled_with_ready = poll::poll(&[&long, &ready_now]);
    // block returns at once, and the pollable is ready from then on.
    let blocked = monotonic_clock::subscribe_duration(86_400_000_000_000);
    blocked.block();
    let ready_after_block = blocked.ready();
    // std: Instant, SystemTime, sleep.
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    let slept_ns = t0.elapsed().as_nanos() as u64;
    let system_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    // Streams.
    let input = stdin::get_stdin();
    let read = format!("{:?}", input.read(16));
    let blocking_read = format!("{:?}", input.blocking_read(16));
    let stdin_ready = input.subscribe().ready();
    let out = stdout::get_stdout();
    let check_write = out.check_write().ok();
    let wrote = out
        .blocking_write_and_flush(b"wasi-probe writes a line\n")
        .is_ok();
    let stdout_ready = out.subscribe().ready();
    let flushed = out.blocking_flush().is_ok();
    let zeroes = out.blocking_write_zeroes_and_flush(0).is_ok();
    Value::Object(
        [
            ("mono_now", json!(mono_now)),
            ("mono_resolution", json!(monotonic_clock::resolution())),
            ("wall", json!([wall.seconds, wall.nanoseconds])),
            (
                "wall_resolution",
                json!(wall_clock::resolution().nanoseconds),
            ),
            ("turns_until_ready", json!(turns)),
            ("ready_after_work", json!(ready_after_work)),
            ("zero_ready", json!(zero)),
            ("at_now_ready", json!(at_now)),
            ("later_ready", json!(later_ready)),
            ("polled", json!(polled)),
            ("short_ready_after_poll", json!(short_ready_after_poll)),
            ("polled_with_ready", json!(polled_with_ready)),
            ("ready_after_block", json!(ready_after_block)),
            ("mono_after_block", json!(monotonic_clock::now())),
            ("slept_ns", json!(slept_ns)),
            ("system_ms", json!(system_ms)),
            ("stdin_read", json!(read)),
            ("stdin_blocking_read", json!(blocking_read)),
            ("stdin_ready", json!(stdin_ready)),
            ("stdout_check_write", json!(check_write)),
            ("stdout_wrote", json!(wrote)),
            ("stdout_ready", json!(stdout_ready)),
            ("stdout_flushed", json!(flushed)),
            ("stdout_zeroes", json!(zeroes)),
            ("env", json!(environment::get_environment())),
            ("args", json!(environment::get_arguments())),
            ("cwd", json!(environment::initial_cwd())),
            ("std_env_vars", json!(std::env::vars().count())),
            ("random_bytes", json!(random::get_random_bytes(16))),
            ("random_u64", json!(random::get_random_u64())),
            (
                "insecure_bytes",
                json!(insecure::get_insecure_random_bytes(8)),
            ),
            ("insecure_u64", json!(insecure::get_insecure_random_u64())),
            ("insecure_seed", json!(insecure_seed::insecure_seed())),
            ("preopens", json!(preopens::get_directories().len())),
            ("std_read_dir_fails", json!(std::fs::read_dir("/").is_err())),
            (
                "terminal_stdin",
                json!(terminal_stdin::get_terminal_stdin().is_some()),
            ),
            (
                "terminal_stdout",
                json!(terminal_stdout::get_terminal_stdout().is_some()),
            ),
            (
                "terminal_stderr",
                json!(terminal_stderr::get_terminal_stderr().is_some()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    )
}

fn wasi_probe(input: Value) -> Result<Value, Failure> {
    match input["mode"].as_str().unwrap_or("probe") {
        "probe" => {
            let before = report();
            let step: String = activity("step", &json!({"i": 1})).result()?;
            let after = report();
            Ok(json!({"before": before, "step": step, "after": after}))
        }
        "sleep-forever" => {
            std::thread::sleep(Duration::from_secs(u64::MAX));
            monotonic_clock::subscribe_instant(u64::MAX).block();
            let step: String = activity("step", &json!({"i": 2})).result()?;
            Ok(json!({"woke": true, "step": step}))
        }
        "block-loop" => {
            let far = monotonic_clock::subscribe_instant(u64::MAX);
            loop {
                far.block();
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "random-flood" => Ok(json!(random::get_random_bytes(2 << 20).len())),
        other => Err(Failure::new("BadMode", format!("unknown mode {other}"))),
    }
}

weft_sdk::workflow!(wasi_probe);

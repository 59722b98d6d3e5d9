//! Compiling a component against loading its cached code: `cargo bench -p weft-tests --bench
//! compile`. Set `WEFT_BENCH_COMPONENT=path.wasm` to measure another component (a Python or
//! JavaScript one, say); the default is the largest test guest. Prints the median of several
//! cold compiles and of several loads from the compiled-code cache, each in a fresh sandbox,
//! and their ratio.

use std::time::{Duration, Instant};
use weft::Limits;
use weft_wasm::Sandbox;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let path =
        std::env::var("WEFT_BENCH_COMPONENT").unwrap_or_else(|_| weft_tests::SEMANTICS.to_string());
    let bytes = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_component_bytes: 64 << 20,
        ..Limits::default()
    };
    let sandbox = || Sandbox::new(limits.clone()).unwrap();
    let cached = || sandbox().with_compile_cache(dir.path()).unwrap();

    let cold: Vec<Duration> = (0..5)
        .map(|_| {
            let s = sandbox();
            let t = Instant::now();
            let c = s.compile("bench", &bytes).unwrap();
            assert!(!c.from_cache());
            t.elapsed()
        })
        .collect();
    // Fills the cache.
    assert!(!cached().compile("bench", &bytes).unwrap().from_cache());
    let warm: Vec<Duration> = (0..10)
        .map(|_| {
            let s = cached();
            let t = Instant::now();
            let c = s.compile("bench", &bytes).unwrap();
            assert!(c.from_cache());
            t.elapsed()
        })
        .collect();
    let (cold, warm) = (median(cold), median(warm));
    println!(
        "{path} ({} bytes): compile p50 {cold:.2?}, cached load p50 {warm:.2?}, {:.1}x faster",
        bytes.len(),
        cold.as_secs_f64() / warm.as_secs_f64()
    );
}

//! Compiled code kept across restarts (`HostBuilder::compile_cache`): the first start compiles
//! and stores the code, the next loads it without compiling (the file is not written again), a
//! damaged file is replaced by a fresh compile, and the workflows run the same either way.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use weft::WorkflowOutcome;
use weft_tests::TestHost;

fn cached_files(dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .map(|p| {
            let m = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, m)
        })
        .collect();
    files.sort();
    files
}

async fn run_steps(t: &TestHost, id: &str) {
    let host = t.start().await;
    host.start_workflow("steps", id, json!({"count": 1, "sleep_ms": 1}))
        .await
        .unwrap();
    assert_eq!(
        host.result(id).await.unwrap(),
        WorkflowOutcome::Completed(json!({"results": ["step-0"]}))
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_code_is_reused_across_restarts_and_a_damaged_file_is_replaced() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("compiled");
    let d2 = dir.clone();
    let t = TestHost::new()
        .steps()
        .workflow("steps", weft_tests::STEPS)
        .with(move |b| b.compile_cache(&d2));

    run_steps(&t, "first").await;
    let first = cached_files(&dir);
    assert_eq!(first.len(), 1, "{first:?}");
    let digest = weft_wasm::sandbox::component_digest(&std::fs::read(weft_tests::STEPS).unwrap());
    let name = first[0]
        .0
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(
        name.starts_with(digest.strip_prefix("sha256:").unwrap()),
        "named by the component's digest: {name}"
    );

    // A restart loads the code: the file is left as it was.
    run_steps(&t, "second").await;
    assert_eq!(cached_files(&dir), first);

    // Damaged code is not loaded: the component is compiled again and the file replaced.
    std::fs::write(&first[0].0, b"not machine code").unwrap();
    run_steps(&t, "third").await;
    let third = cached_files(&dir);
    assert_eq!(third.len(), 1);
    assert!(std::fs::metadata(&third[0].0).unwrap().len() > 1000);
    run_steps(&t, "fourth").await;
    assert_eq!(cached_files(&dir), third, "the replaced file loads");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forbidden_import_is_refused_before_compiling() {
    // Refused from the import section alone: nothing is compiled, so nothing is cached.
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_path_buf();
    let t = TestHost::new().with(move |b| b.compile_cache(&dir));
    let host = t.start().await;
    let err = host
        .namespace("default")
        .unwrap()
        .register_workflow("net", weft_tests::http_importing_component())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wasi:http"), "{err}");
    assert!(cached_files(cache.path()).is_empty());
    host.shutdown().await;
}

//! The guest conformance suite: one workflow, implemented with the Rust, Python and
//! TypeScript SDKs (tests/guests/conformance, tests/guests-py/conformance.py,
//! tests/guests-ts/conformance.ts), run case by case through a real host.
//!
//! The canned histories in tests/fixtures/conformance/ (history files, docs/history-format.md)
//! were recorded from the Rust SDK. Every
//! SDK must
//! - replay each canned history to the same commands and the same result (the replay checks
//!   every command against its recorded event: type, activity type, order), and
//! - produce, when run live, a history of the same shape: the same events with the same
//!   activity types and inputs, timers and results (run-specific values aside).
//!
//! A new language SDK is correct when it passes both. To record the histories again after a
//! deliberate change to the cases: `WEFT_BLESS=1 cargo test -p weft-tests --test conformance`.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use weft::history::{Event, HistoryFile};
use weft::{ActivityContext, ActivityError, Host, HostError, RunId, RunStatus, WorkflowOutcome};
use weft_tests::{TestHost, command_shape, wait_until};

/// Every case of the conformance workflow.
const CASES: &[&str] = &[
    "activities",
    "timer_race",
    "signals",
    "update",
    "child",
    "deterministic",
    "cancel",
    "continue_as_new",
    "failure",
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/conformance")
}

fn host_for(component: &str) -> TestHost {
    TestHost::new()
        .shared_compile_cache()
        .workflow("conformance", component)
        .with(|b| {
            b.activity("echo", |_c: ActivityContext, v: Value| async move {
                Ok::<_, ActivityError>(v)
            })
            .activity("fail", |_c: ActivityContext, _v: Value| async move {
                Err::<Value, _>(ActivityError::non_retryable("Boom", "the activity failed"))
            })
        })
}

/// Runs `case` live on `host` as workflow `case`, driving it where the case waits for the
/// outside (signals, updates, a cancel request), and returns how it ended.
async fn run_case(host: &Host, case: &str) -> (String, WorkflowOutcome) {
    let id = case.to_string();
    host.start_workflow("conformance", &id, json!({"case": case}))
        .await
        .unwrap_or_else(|e| panic!("start {case}: {e}"));
    match case {
        "signals" => {
            for n in [1, 2, 3] {
                host.namespace("default")
                    .unwrap()
                    .signal(&id, "add", json!(n))
                    .await
                    .unwrap();
            }
        }
        "update" => {
            let rejected = host
                .namespace("default")
                .unwrap()
                .update(&id, "set_value", json!(-1))
                .await;
            assert!(
                matches!(&rejected, Err(HostError::UpdateRejected(f)) if f.error_type == "Negative"),
                "the validator rejects -1: {rejected:?}"
            );
            let doubled = host
                .namespace("default")
                .unwrap()
                .update(&id, "set_value", json!(21))
                .await
                .unwrap();
            assert_eq!(doubled, json!(42));
        }
        "cancel" => {
            wait_until("the cancel case's timer is started", || {
                host.history(&id)
                    .is_ok_and(|h| h.iter().any(|e| e.kind.name() == "TimerStarted"))
            })
            .await;
            host.namespace("default")
                .unwrap()
                .cancel(&id, "conformance")
                .await
                .unwrap();
        }
        _ => {}
    }
    let outcome = tokio::time::timeout(Duration::from_secs(60), host.result(&id))
        .await
        .unwrap_or_else(|_| panic!("case {case} did not end: {:?}", host.history(&id)))
        .unwrap_or_else(|e| panic!("case {case}: {e}"));
    (id, outcome)
}

fn shape(case: &str, history: &[Event]) -> Vec<Value> {
    // uuid and now_ms come from the run's seed and time.
    let per_run: &[&str] = if case == "deterministic" {
        &["uuid", "now_ms"]
    } else {
        &[]
    };
    command_shape(history, per_run)
}

/// The SDK behind `component` against every case: live runs shaped like the canned ones, and
/// the canned histories replayed by this build and by `rebuilt` (another build of the same
/// sources, when there is one).
async fn conforms(language: &str, component: &str, rebuilt: Option<&str>) {
    let test_host = host_for(component);
    let host = test_host.start().await;
    let bless = language == "rust" && std::env::var_os("WEFT_BLESS").is_some();
    let mut failures = Vec::new();
    for case in CASES {
        let (id, outcome) = run_case(&host, case).await;
        let history = host.history(&id).unwrap();
        let desc = host.describe(&id).unwrap();
        let path = fixture_dir().join(format!("{case}.json"));
        if bless {
            assert_ne!(desc.status, RunStatus::Running);
            std::fs::create_dir_all(fixture_dir()).unwrap();
            let fixture = HistoryFile::new("default", &id, &desc.run_id, history.clone()).to_json();
            std::fs::write(&path, fixture + "\n").unwrap();
        }
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (record with WEFT_BLESS=1)", path.display()));
        let fixture =
            HistoryFile::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (live, canned) = (shape(case, &history), shape(case, &fixture.events));
        if live != canned {
            failures.push(format!(
                "{language} case {case}: the live commands differ from the canned ones\n  live:   {}\n  canned: {}\n  outcome: {outcome:?}",
                serde_json::to_string(&live).unwrap(),
                serde_json::to_string(&canned).unwrap()
            ));
        }
        let run = RunId::parse(&fixture.run_id).expect("a run id");
        for build in std::iter::once(component).chain(rebuilt) {
            let bytes = std::fs::read(build).unwrap();
            if let Err(e) = host
                .replay_history(bytes, &fixture.workflow_id, run, fixture.events.clone())
                .await
            {
                failures.push(format!(
                    "{language} case {case}: the canned history does not replay on {build}: {e}"
                ));
            }
        }
        // Its own live run replays, on this build and on the rebuild.
        if let Err(e) = host.verify_replay(&id) {
            failures.push(format!(
                "{language} case {case}: own history does not replay: {e}"
            ));
        }
        if let Some(build) = rebuilt {
            let own = RunId::parse(&desc.run_id).expect("a run id");
            let bytes = std::fs::read(build).unwrap();
            if let Err(e) = host.replay_history(bytes, &id, own, history).await {
                failures.push(format!(
                    "{language} case {case}: its own history does not replay on {build}: {e}"
                ));
            }
        }
    }
    host.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_sdk_conforms() {
    conforms("rust", weft_tests::CONFORMANCE, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_sdk_conforms_and_a_rebuild_replays_its_histories() {
    conforms(
        "python",
        weft_tests::PY_CONFORMANCE,
        Some(weft_tests::PY_CONFORMANCE_REBUILT),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_conforms_and_a_rebuild_replays_its_histories() {
    conforms(
        "typescript",
        weft_tests::TS_CONFORMANCE,
        Some(weft_tests::TS_CONFORMANCE_REBUILT),
    )
    .await;
}

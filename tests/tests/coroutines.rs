//! The Rust SDK's deterministic scheduler: in an async workflow, an update handler waiting on
//! a long activity and the main code waiting on a timer and its own activity make progress at
//! the same time, the main code waits for all handlers before returning, and the history
//! replays to the same interleaving.

use serde_json::{Value, json};
use std::time::Duration;
use weft::{ActivityContext, ActivityError, WorkflowOutcome};
use weft_tests::{TestHost, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_handler_and_the_main_code_run_as_coroutines() {
    for cache in [0, 128] {
        let t = TestHost::new()
            .sticky_cache(cache)
            .workflow("coroutines", weft_tests::COROUTINES)
            .with(|b| {
                b.activity("nap", |_c: ActivityContext, v: Value| async move {
                    let ms = v["ms"].as_u64().unwrap();
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok::<_, ActivityError>(format!("napped {ms}"))
                })
            });
        let host = t.start().await;
        let c = host.namespace("default").unwrap();
        c.start_workflow("coroutines", "co", json!({"timer_ms": 100}))
            .await
            .unwrap();
        wait_until("the first task", || {
            c.history("co")
                .unwrap()
                .iter()
                .any(|e| e.kind.name() == "WorkflowTaskCompleted")
        })
        .await;
        let c2 = c.clone();
        let update = tokio::spawn(async move { c2.update("co", "slow", json!(1500)).await });
        let outcome = tokio::time::timeout(Duration::from_secs(30), c.result("co"))
            .await
            .expect("the workflow completes")
            .unwrap();
        let WorkflowOutcome::Completed(log) = outcome else {
            panic!("{outcome:?}")
        };
        // The main code went on while the handler waited for its activity.
        assert_eq!(
            log,
            json!([
                "handler started",
                "main timer fired",
                "main napped 1",
                "handler done"
            ]),
            "cache {cache}"
        );
        assert_eq!(update.await.unwrap().unwrap(), json!("napped 1500"));
        let names: Vec<&str> = c
            .history("co")
            .unwrap()
            .iter()
            .map(|e| e.kind.name())
            .collect();
        let fired = names.iter().position(|n| *n == "TimerFired").unwrap();
        let update_done = names
            .iter()
            .position(|n| *n == "WorkflowExecutionUpdateCompleted")
            .unwrap();
        assert!(fired < update_done, "{names:?}");
        c.verify_replay("co").unwrap();
        drop(c);
        host.shutdown().await;
    }
}

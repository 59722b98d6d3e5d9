//! Component versions: a run stays on the version it started with while a new version takes
//! the new runs; a dry run replays the open runs against a version and says which would
//! diverge; compatible runs can be moved to it.

use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use weft::{Client, EventKind, Payload, WorkflowOutcome};
use weft_tests::TestHost;

/// Polls one activity task and returns it (not completed).
async fn poll(c: &Client) -> weft::ActivityTask {
    c.poll_activity_task("default", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a task within 30 s")
}

fn activity_types(c: &Client, id: &str) -> Vec<String> {
    c.history(id)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::ActivityTaskScheduled { activity_type, .. } => Some(activity_type),
            _ => None,
        })
        .collect()
}

async fn complete(c: &Client, task: &weft::ActivityTask) {
    let i = task.input.to_json()["i"].clone();
    c.complete_activity(&task.task_token, Payload::json(&json!(format!("step-{i}"))))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_keep_their_version_a_dry_run_finds_divergence_and_compatible_runs_move() {
    let t = TestHost::new().with(|b| {
        b.namespace("default", |ns| {
            ns.workflow_file("steps", weft_tests::STEPS)
                .remote_activities()
        })
    });
    let host = t.start().await;
    let c = host.namespace("default").unwrap();
    let input = json!({"count": 2, "sleep_ms": 1});
    c.start_workflow("steps", "s-1", input.clone())
        .await
        .unwrap();
    c.start_workflow("steps", "s-3", input.clone())
        .await
        .unwrap();
    let v1 = c.describe("s-1").unwrap().component_digest.unwrap();
    assert!(v1.starts_with("sha256:"), "{v1}");

    // s-1 gets past its first step and schedules the second (`step`, in v1); s-3 waits on
    // its first.
    let mut held = BTreeMap::new();
    while held.len() < 2 {
        let task = poll(&c).await;
        held.insert(task.workflow_id.clone(), task);
    }
    complete(&c, &held.remove("s-1").unwrap()).await;
    let s1_second = poll(&c).await;
    assert_eq!(
        (
            s1_second.workflow_id.as_str(),
            s1_second.activity_type.as_str()
        ),
        ("s-1", "step")
    );

    // v2 names the second step's activity `step_renamed`.
    let v2_bytes = std::fs::read(weft_tests::STEPS_CHANGED).unwrap();
    let check = c.check_workflow("steps", v2_bytes.clone()).await.unwrap();
    assert_eq!(check.compatible, ["s-3"]);
    assert_eq!(check.incompatible.len(), 1, "{check:?}");
    assert_eq!(check.incompatible[0].workflow_id, "s-1");
    assert!(
        check.incompatible[0].reason.contains("step_renamed"),
        "{}",
        check.incompatible[0].reason
    );
    // A dry run registers nothing: new runs still get v1.
    c.start_workflow("steps", "s-0", json!({"count": 0, "sleep_ms": 1}))
        .await
        .unwrap();
    assert_eq!(
        c.describe("s-0").unwrap().component_digest,
        Some(v1.clone())
    );
    // It has nothing to do: once it has closed, it is no longer a run to move.
    assert!(matches!(
        c.result("s-0").await.unwrap(),
        weft::WorkflowOutcome::Completed(_)
    ));

    let v2 = c.register_workflow("steps", v2_bytes).await.unwrap();
    assert_eq!(v2, check.digest);
    assert_ne!(v1, v2);
    c.start_workflow("steps", "s-2", input.clone())
        .await
        .unwrap();
    assert_eq!(
        c.describe("s-2").unwrap().component_digest,
        Some(v2.clone())
    );
    assert_eq!(
        c.describe("s-1").unwrap().component_digest,
        Some(v1.clone())
    );

    let moved = c.move_compatible_runs("steps").await.unwrap();
    assert_eq!(moved.compatible, ["s-3"]);
    assert_eq!(moved.unchanged, ["s-2"]);
    assert_eq!(moved.incompatible[0].workflow_id, "s-1");
    assert_eq!(
        c.describe("s-3").unwrap().component_digest,
        Some(v2.clone())
    );

    // Everything finishes, each run on its version, without a failed task.
    complete(&c, &s1_second).await;
    complete(&c, &held.remove("s-3").unwrap()).await;
    for id in ["s-1", "s-2", "s-3"] {
        loop {
            if let Some(task) = c
                .poll_activity_task("default", Duration::from_millis(50))
                .await
                .unwrap()
            {
                complete(&c, &task).await;
            }
            if c.describe(id).unwrap().status != weft::RunStatus::Running {
                break;
            }
        }
        assert_eq!(
            c.result(id).await.unwrap(),
            WorkflowOutcome::Completed(json!({"results": ["step-0", "step-1"]}))
        );
        let failed = c
            .history(id)
            .unwrap()
            .iter()
            .any(|e| matches!(e.kind, EventKind::WorkflowTaskFailed { .. }));
        assert!(!failed, "{id} failed a task");
        c.verify_replay(id).unwrap();
    }
    assert_eq!(activity_types(&c, "s-1"), ["step", "step"]);
    assert_eq!(activity_types(&c, "s-2"), ["step", "step_renamed"]);
    assert_eq!(activity_types(&c, "s-3"), ["step", "step_renamed"]);
    drop(c);
    host.shutdown().await;
}

//! Store transactions that the host API does not reach directly.

use weft::history::Payload;
use weft::ids::{EventId, Namespace, RunId, WorkflowId};
use weft::store::{NexusCallback, StartQuota, Store, StoreError};

#[test]
fn a_workflow_started_for_a_nexus_operation_is_started_once_per_operation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("s.redb"), 0).unwrap();
    let ns = Namespace::default_namespace();
    let id = WorkflowId::from("nexus-req-1");
    let cb = NexusCallback {
        run: RunId(7),
        scheduled_event_id: EventId(5),
    };
    let start = |callback| {
        store.start_workflow(
            &ns,
            &id,
            "steps",
            Payload::json(&serde_json::json!({})),
            1,
            10,
            StartQuota::UNLIMITED,
            callback,
        )
    };
    let first = start(Some(cb)).unwrap();
    // The same operation delivered again finds its workflow.
    assert_eq!(start(Some(cb)).unwrap(), first);
    assert_eq!(store.usage(&ns).unwrap().open_workflows, 1);
    // Another caller, or a plain start, does not take it over.
    let other = NexusCallback {
        run: RunId(8),
        scheduled_event_id: EventId(5),
    };
    assert!(matches!(
        start(Some(other)),
        Err(StoreError::AlreadyRunning(..))
    ));
    assert!(matches!(start(None), Err(StoreError::AlreadyRunning(..))));
}

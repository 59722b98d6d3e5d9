//! Every reply, good and bad, against the server's own OpenAPI document.

use super::*;

#[test]
fn every_reply_matches_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    let (s, beta) = server_with_workflow(dir.path());
    let (a, b, admin) = (Some(ACME_KEY), Some(beta.as_str()), Some(ADMIN_KEY));

    let doc = s.get("/openapi.json", "/openapi.json", None).json;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"].as_object().unwrap().len() >= 20);

    // A little of everything, good and bad.
    s.get("/healthz", "/healthz", None);
    s.get("/readyz", "/readyz", None);
    s.get("/metrics", "/metrics", None);
    s.get("/v1/components", "/v1/components", a);
    s.call(
        "POST",
        "/v1/components/{workflow_type}",
        "/v1/components/t",
        a,
        Body::Raw(vec![0, 1, 2]),
    );
    s.get("/v1/workflows", "/v1/workflows", a);
    s.get("/v1/workflows", "/v1/workflows", None);
    s.get(WF, "/v1/workflows/wf-1", a);
    s.get(WF, "/v1/workflows/wf-1", b);
    s.get(WF, "/v1/workflows/wf-1", admin);
    s.get(
        "/v1/workflows/{id}/history",
        "/v1/workflows/wf-1/history",
        a,
    );
    s.get(
        "/v1/workflows/{id}/result",
        "/v1/workflows/wf-1/result?wait_ms=50",
        a,
    );
    s.post(
        "/v1/workflows",
        "/v1/workflows",
        a,
        json!({"workflow_id": "x", "workflow_type": "nope"}),
    );
    s.call(
        "POST",
        "/v1/workflows",
        "/v1/workflows",
        a,
        Body::Raw(b"[".to_vec()),
    );
    s.post(
        "/v1/signal-with-start",
        "/v1/signal-with-start",
        a,
        json!({"workflow_id": "wf-1", "workflow_type": "t", "signal_name": "s"}),
    );
    s.post(
        "/v1/signal-with-start",
        "/v1/signal-with-start",
        a,
        json!({"workflow_id": "wf-2", "workflow_type": "t", "signal_name": "s"}),
    );
    s.post(
        "/v1/workflows/{id}/signal",
        "/v1/workflows/wf-1/signal",
        a,
        json!({"name": "s"}),
    );
    s.post(
        "/v1/workflows/{id}/query",
        "/v1/workflows/wf-1/query",
        b,
        json!({"name": "q"}),
    );
    s.post(
        "/v1/workflows/{id}/update",
        "/v1/workflows/nope/update",
        a,
        json!({"name": "u"}),
    );
    s.post(
        "/v1/workflows/{id}/cancel",
        "/v1/workflows/wf-1/cancel",
        a,
        json!({}),
    );
    s.post(
        "/v1/task-queues/{queue}/activity-tasks/poll",
        "/v1/task-queues/default/activity-tasks/poll",
        a,
        json!({"wait_ms": 10}),
    );
    s.post(
        "/v1/activity-tasks/heartbeat",
        "/v1/activity-tasks/heartbeat",
        a,
        json!({"task_token": "t"}),
    );
    s.post(
        "/v1/activity-tasks/complete",
        "/v1/activity-tasks/complete",
        a,
        json!({"task_token": "t", "result": 1}),
    );
    s.post("/v1/activity-tasks/fail", "/v1/activity-tasks/fail", a, json!({"task_token": "t", "failure": {"error_type": "E", "message": "m", "non_retryable": true}}));
    s.get("/v1/namespaces", "/v1/namespaces", admin);
    s.get("/v1/namespaces", "/v1/namespaces", a);
    s.post(
        "/v1/namespaces",
        "/v1/namespaces",
        admin,
        json!({"name": "gamma", "quotas": {"max_stored_bytes": 1000000}}),
    );
    s.post(
        "/v1/namespaces",
        "/v1/namespaces",
        admin,
        json!({"name": "gamma"}),
    );
    s.call(
        "PATCH",
        "/v1/namespaces/{name}",
        "/v1/namespaces/gamma",
        admin,
        Body::Json(json!({"quotas": {}})),
    );
    let key = s.post(
        "/v1/namespaces/{name}/keys",
        "/v1/namespaces/gamma/keys",
        admin,
        json!({"label": "l"}),
    );
    s.get(
        "/v1/namespaces/{name}/keys",
        "/v1/namespaces/gamma/keys",
        admin,
    );
    let key_id = key.json["key_id"].as_str().unwrap();
    let path = format!("/v1/namespaces/gamma/keys/{key_id}");
    s.call(
        "DELETE",
        "/v1/namespaces/{name}/keys/{key_id}",
        &path,
        admin,
        Body::None,
    );
    s.call(
        "DELETE",
        "/v1/namespaces/{name}",
        "/v1/namespaces/acme",
        admin,
        Body::None,
    );
    s.call(
        "DELETE",
        "/v1/namespaces/{name}",
        "/v1/namespaces/gamma",
        admin,
        Body::None,
    );
    s.post(
        "/v1/workflows/{id}/terminate",
        "/v1/workflows/wf-1/terminate",
        a,
        json!({}),
    );
    s.get("/v1/workflows/{id}/result", "/v1/workflows/wf-1/result", a);
    s.get(WF, "/v1/workflows/wf-1", a);

    let replies = s.replies.lock().unwrap().clone();
    let statuses: std::collections::BTreeSet<u16> = replies.iter().map(|r| r.status).collect();
    for expected in [200, 201, 204, 400, 401, 403, 404, 409] {
        assert!(
            statuses.contains(&expected),
            "the scenario covers status {expected}: {statuses:?}"
        );
    }
    let errors = check_replies(&doc, &replies);
    assert!(
        errors.is_empty(),
        "replies not matching the document:\n{}",
        errors.join("\n")
    );

    // The checker can fail: a wrong body, and an undocumented status.
    let mut wrong = replies.iter().find(|r| r.status == 404).unwrap().clone();
    wrong.json = common::nonsense();
    assert!(!check_replies(&doc, &[wrong.clone()]).is_empty());
    wrong.json = json!({"workflow_id": "x"});
    wrong.status = 200;
    wrong.route = WF.to_string();
    let errors = check_replies(&doc, &[wrong.clone()]);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("required property 'run_id'")),
        "{errors:?}"
    );
    wrong.status = 418;
    assert!(
        check_replies(&doc, &[wrong])
            .iter()
            .any(|e| e.contains("not documented"))
    );
    let mut e = Vec::new();
    check_schema(&doc, &json!({"type": "integer"}), &json!("1"), "x", &mut e);
    assert_eq!(e.len(), 1);
    s.stop().unwrap();
}

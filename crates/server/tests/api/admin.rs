//! Admin changes at runtime: namespaces and keys, usable at once and kept across restarts.

use super::*;

#[test]
fn admin_creates_a_namespace_and_key_usable_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(config(dir.path()));
    let a = Some(ADMIN_KEY);
    let r = s.post(
        "/v1/namespaces",
        "/v1/namespaces",
        a,
        json!({"name": "beta", "quotas": {"max_open_workflows": 3}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["quotas"]["max_open_workflows"], 3);
    let r = s.post(
        "/v1/namespaces",
        "/v1/namespaces",
        a,
        json!({"name": "beta"}),
    );
    assert_eq!((r.status, r.code()), (409, "conflict"));
    let r = s.post(
        "/v1/namespaces",
        "/v1/namespaces",
        a,
        json!({"name": "bad name"}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));

    let r = s.post(
        "/v1/namespaces/{name}/keys",
        "/v1/namespaces/beta/keys",
        a,
        json!({"label": "worker"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.json["key"].as_str().unwrap().to_string();
    let key_id = r.json["key_id"].as_str().unwrap().to_string();
    assert!(key.starts_with("wk_") && key.len() == 67, "{key}");
    let r = s.post(
        "/v1/namespaces/{name}/keys",
        "/v1/namespaces/nope/keys",
        a,
        json!({}),
    );
    assert_eq!((r.status, r.code()), (404, "not_found"));

    let r = s.get("/v1/workflows", "/v1/workflows", Some(&key));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"workflows": [], "next_cursor": null}));
    let r = s.get("/v1/components", "/v1/components", Some(&key));
    assert_eq!(r.status, 200);

    let r = s.get("/v1/namespaces/{name}/keys", "/v1/namespaces/beta/keys", a);
    assert_eq!(r.status, 200);
    assert_eq!(r.json["keys"][0]["key_id"], key_id.as_str());
    assert_eq!(r.json["keys"][0]["label"], "worker");
    assert!(!r.text.contains(&key), "a key is shown once");

    let r = s.call(
        "PATCH",
        "/v1/namespaces/{name}",
        "/v1/namespaces/beta",
        a,
        Body::Json(json!({"quotas": {"max_payload_bytes": 1000}})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["quotas"], json!({"max_payload_bytes": 1000}));
    let r = s.call(
        "PATCH",
        "/v1/namespaces/{name}",
        "/v1/namespaces/nope",
        a,
        Body::Json(json!({"quotas": {}})),
    );
    assert_eq!(r.status, 404);

    let r = s.get("/v1/namespaces", "/v1/namespaces", a);
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.json["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "beta", "default"]);

    // Configured keys are listed, and cannot be revoked through the API.
    let r = s.get("/v1/namespaces/{name}/keys", "/v1/namespaces/acme/keys", a);
    let config_key = r.json["keys"][0]["key_id"].as_str().unwrap().to_string();
    let r = s.call(
        "DELETE",
        "/v1/namespaces/{name}/keys/{key_id}",
        &format!("/v1/namespaces/acme/keys/{config_key}"),
        a,
        Body::None,
    );
    assert_eq!((r.status, r.code()), (409, "conflict"));

    let path = format!("/v1/namespaces/beta/keys/{key_id}");
    let r = s.call(
        "DELETE",
        "/v1/namespaces/{name}/keys/{key_id}",
        &path,
        a,
        Body::None,
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.call(
        "DELETE",
        "/v1/namespaces/{name}/keys/{key_id}",
        &path,
        a,
        Body::None,
    );
    assert_eq!(r.status, 404);
    let r = s.get("/v1/workflows", "/v1/workflows", Some(&key));
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthorized"),
        "revoked at once"
    );

    // A second key, revoked with its namespace.
    let r = s.post(
        "/v1/namespaces/{name}/keys",
        "/v1/namespaces/beta/keys",
        a,
        json!({}),
    );
    let key2 = r.json["key"].as_str().unwrap().to_string();
    let r = s.call(
        "DELETE",
        "/v1/namespaces/{name}",
        "/v1/namespaces/beta",
        a,
        Body::None,
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.get("/v1/workflows", "/v1/workflows", Some(&key2));
    assert_eq!(r.status, 401);
    let r = s.call(
        "DELETE",
        "/v1/namespaces/{name}",
        "/v1/namespaces/beta",
        a,
        Body::None,
    );
    assert_eq!(r.status, 404);
    let r = s.call(
        "DELETE",
        "/v1/namespaces/{name}",
        "/v1/namespaces/default",
        a,
        Body::None,
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    s.stop().unwrap();
}

#[test]
fn namespaces_and_keys_survive_a_restart_and_ids_of_other_namespaces_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let (s, beta) = server_with_workflow(dir.path());
    let (a, b) = (Some(ACME_KEY), Some(beta.as_str()));

    let r = s.get(WF, "/v1/workflows/wf-1", a);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "running");
    assert_eq!(r.json["workflow_type"], "not-registered");
    assert!(r.json["start_time"].as_str().unwrap().ends_with('Z'));

    // Every workflow route of namespace beta answers 404 for acme's workflow.
    let routes: [(&str, &str, Option<Value>); 10] = [
        ("GET", WF, None),
        ("GET", "/v1/workflows/{id}/result", None),
        ("GET", "/v1/workflows/{id}/history", None),
        ("GET", "/v1/workflows/{id}/events", None),
        (
            "POST",
            "/v1/workflows/{id}/signal",
            Some(json!({"name": "go"})),
        ),
        (
            "POST",
            "/v1/workflows/{id}/query",
            Some(json!({"name": "state"})),
        ),
        (
            "POST",
            "/v1/workflows/{id}/update",
            Some(json!({"name": "u"})),
        ),
        (
            "POST",
            "/v1/workflows/{id}/update",
            Some(json!({"name": "u", "wait_for": "accepted"})),
        ),
        ("POST", "/v1/workflows/{id}/cancel", Some(json!({}))),
        (
            "POST",
            "/v1/workflows/{id}/terminate",
            Some(json!({"reason": "x"})),
        ),
    ];
    for (method, route, body) in &routes {
        let path = route.replace("{id}", "wf-1");
        let body = body.clone().map(Body::Json).unwrap_or(Body::None);
        let r = s.call(method, route, &path, b, body);
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found"),
            "{method} {path}: {}",
            r.text
        );
    }
    let r = s.get("/v1/workflows", "/v1/workflows", b);
    assert_eq!(r.json["workflows"], json!([]), "beta lists nothing of acme");
    let r = s.get("/v1/workflows", "/v1/workflows", a);
    assert_eq!(r.json["workflows"][0]["workflow_id"], "wf-1");
    let r = s.get("/v1/workflows", "/v1/workflows?status=completed", a);
    assert_eq!(r.json["workflows"], json!([]));
    let r = s.get(
        "/v1/workflows",
        "/v1/workflows?workflow_type=not-registered&limit=1",
        a,
    );
    assert_eq!(r.json["workflows"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["next_cursor"], Value::Null);

    // Namespace acme sees and changes it.
    let r = s.get(
        "/v1/workflows/{id}/history",
        "/v1/workflows/wf-1/history?page_size=1",
        a,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["events"][0]["id"], 1);
    assert!(
        r.json["events"][0]["kind"]["WorkflowExecutionStarted"].is_object(),
        "{}",
        r.text
    );
    let token = r.json["next_page_token"]
        .as_str()
        .expect("more pages")
        .to_string();
    let r = s.get(
        "/v1/workflows/{id}/history",
        &format!("/v1/workflows/wf-1/history?page_size=1&next_page_token={token}"),
        a,
    );
    assert_eq!(r.json["events"][0]["id"], 2);
    let r = s.get(
        "/v1/workflows/{id}/result",
        "/v1/workflows/wf-1/result?wait_ms=100",
        a,
    );
    assert_eq!(r.json, json!({"done": false}));
    let r = s.post(
        "/v1/workflows/{id}/signal",
        "/v1/workflows/wf-1/signal",
        a,
        json!({"name": "more", "input": [1, 2]}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.post(
        "/v1/workflows/{id}/terminate",
        "/v1/workflows/wf-1/terminate",
        a,
        json!({"reason": "test over"}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s.post(
        "/v1/workflows/{id}/signal",
        "/v1/workflows/wf-1/signal",
        a,
        json!({"name": "late"}),
    );
    assert_eq!((r.status, r.code()), (409, "conflict"));
    let r = s.get("/v1/workflows/{id}/result", "/v1/workflows/wf-1/result", a);
    assert_eq!(r.json["done"], true);
    assert_eq!(r.json["status"], "terminated");
    assert_eq!(r.json["failure"]["error_type"], "Terminated");
    assert_eq!(r.json["failure"]["message"], "test over");

    // The event stream of the closed run: every event after 1, ending at the close.
    let mut resp = ureq::get(format!("{}/v1/workflows/wf-1/events?after=1", s.base()))
        .header("Authorization", format!("Bearer {ACME_KEY}"))
        .call()
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.body_mut().read_to_string().unwrap();
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let history = s.get(
        "/v1/workflows/{id}/history",
        "/v1/workflows/wf-1/history",
        a,
    );
    let len = history.json["events"].as_array().unwrap().len() as u64;
    assert_eq!(ids, (2..=len).collect::<Vec<_>>(), "{text}");
    assert!(
        text.contains("event: WorkflowExecutionTerminated"),
        "{text}"
    );
    let r = s.get(WF, "/v1/workflows/wf-1", a);
    assert_eq!(r.json["status"], "terminated");
    assert!(r.json["close_time"].is_string());
    s.stop().unwrap();
}

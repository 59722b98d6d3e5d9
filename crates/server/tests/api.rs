//! The HTTP API end to end, in-process: refusals, authentication, admin changes at runtime,
//! namespace isolation, operations routes, shutdown, and every reply against the OpenAPI
//! document.

mod common;

use common::{ACME_KEY, ADMIN_KEY, Body, TestServer, check_replies, check_schema, config};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

const WF: &str = "/v1/workflows/{id}";

/// Runs a server, creates namespace `beta` with a key through the admin API, stops it,
/// writes workflow `wf-1` into namespace `acme` of the database (offline: no component is
/// registered, so its tasks fail, but it exists and runs), and starts the server again.
fn server_with_workflow(dir: &std::path::Path) -> (TestServer, String) {
    let s = TestServer::start(config(dir));
    let r = s.post(
        "/v1/namespaces",
        "/v1/namespaces",
        Some(ADMIN_KEY),
        json!({"name": "beta"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s.post(
        "/v1/namespaces/{name}/keys",
        "/v1/namespaces/beta/keys",
        Some(ADMIN_KEY),
        json!({"label": "ci"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let beta_key = r.json["key"].as_str().expect("key").to_string();
    s.stop().expect("clean stop");
    let offline = weft::Offline::new(dir.join("weft.redb"), "acme").expect("database exists");
    offline
        .signal_with_start(
            "wf-1",
            "not-registered",
            weft::Payload::json(&json!({"n": 1})),
            "go",
            weft::Payload::json(&json!(true)),
        )
        .expect("started offline");
    drop(offline);
    (TestServer::start(config(dir)), beta_key)
}

#[test]
fn refusals_are_json_with_the_documented_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_request_bytes = 4096;
    let s = TestServer::start(cfg);
    let k = Some(ACME_KEY);

    let r = s.call(
        "POST",
        "/v1/workflows",
        "/v1/workflows",
        k,
        Body::Raw(b"{not json".to_vec()),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{}", r.text);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON")
    );

    let r = s.post(
        "/v1/workflows",
        "/v1/workflows",
        k,
        json!({"workflow_type": "x"}),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_request"),
        "missing field: {}",
        r.text
    );

    let big = json!({"workflow_id": "a", "workflow_type": "t", "input": "x".repeat(10_000)});
    let r = s.post("/v1/workflows", "/v1/workflows", k, big);
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{}",
        r.text
    );

    let r = s.post(
        "/v1/workflows",
        "/v1/workflows",
        k,
        json!({"workflow_id": "a", "workflow_type": "nope"}),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_request"),
        "unknown type: {}",
        r.text
    );

    let r = s.get(WF, "/v1/workflows/missing", k);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = s.get(
        "/v1/workflows/{id}/history",
        "/v1/workflows/missing/history",
        k,
    );
    assert_eq!((r.status, r.code()), (404, "not_found"));

    let r = s.get(
        "/v1/workflows",
        "/v1/workflows",
        Some("wrong-key-0123456789abcdef"),
    );
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = s.get("/v1/workflows", "/v1/workflows", None);
    assert_eq!(
        (r.status, r.code()),
        (401, "unauthorized"),
        "no key, not open mode"
    );
    let r = s.get("/v1/namespaces", "/v1/namespaces", k);
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden"),
        "namespace key on admin"
    );
    let r = s.get("/v1/workflows", "/v1/workflows", Some(ADMIN_KEY));
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden"),
        "admin key on a namespace route"
    );

    let r = s.call(
        "POST",
        "/v1/components/{workflow_type}",
        "/v1/components/order",
        k,
        Body::Raw(b"\0asm not really".to_vec()),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{}", r.text);
    // Uploads have the host's component limit, not max_request_bytes (4096 here): a 10 KB
    // body reaches the host, which says what is wrong with it.
    let r = s.call(
        "POST",
        "/v1/components/{workflow_type}",
        "/v1/components/order",
        k,
        Body::Raw(vec![b'x'; 10_000]),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"), "{}", r.text);
    let r = s.get("/v1/components", "/v1/components", k);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["components"],
        json!([]),
        "a refused component is not stored"
    );

    let r = s.get("/v1/workflows", "/v1/workflows?limit=0", k);
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    let r = s.get("/v1/workflows", "/v1/workflows?status=sleeping", k);
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_request"),
        "bad query: {}",
        r.text
    );
    let r = s.get("/v1/workflows", "/v1/workflows?cursor=zz", k);
    assert_eq!((r.status, r.code()), (400, "bad_request"));

    let r = s.post(
        "/v1/activity-tasks/complete",
        "/v1/activity-tasks/complete",
        k,
        json!({"task_token": "nonsense"}),
    );
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);
    let r = s.post(
        "/v1/activity-tasks/heartbeat",
        "/v1/activity-tasks/heartbeat",
        k,
        json!({"task_token": "nonsense"}),
    );
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);
    let r = s.post(
        "/v1/activity-tasks/fail",
        "/v1/activity-tasks/fail",
        k,
        json!({"task_token": "nonsense", "failure": {"error_type": "E", "message": "m"}}),
    );
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.text);

    let started = Instant::now();
    let r = s.post(
        "/v1/task-queues/{queue}/activity-tasks/poll",
        "/v1/task-queues/default/activity-tasks/poll",
        k,
        json!({"wait_ms": 200}),
    );
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "the poll waited"
    );

    // axum's own refusals are JSON too.
    let r = s.get("/nowhere", "/nowhere", k);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert!(r.content_type.starts_with("application/json"));
    let r = s.call("DELETE", "/v1/workflows", "/v1/workflows", k, Body::None);
    assert_eq!(r.status, 405);
    assert!(r.content_type.starts_with("application/json"), "{}", r.text);
    s.stop().unwrap();
}

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

#[test]
fn event_stream_of_a_running_workflow_sends_events_then_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = server_with_workflow(dir.path());
    let resp = ureq::get(format!("{}/v1/workflows/wf-1/events", s.base()))
        .header("Authorization", format!("Bearer {ACME_KEY}"))
        .call()
        .unwrap();
    let mut lines = BufReader::new(resp.into_body().into_reader()).lines();
    let mut next_event = || {
        for line in lines.by_ref() {
            if let Some(name) = line.ok()?.strip_prefix("event: ") {
                return Some(name.to_string());
            }
        }
        None
    };
    assert_eq!(next_event().as_deref(), Some("WorkflowExecutionStarted"));
    assert_eq!(next_event().as_deref(), Some("WorkflowExecutionSignaled"));
    let r = s.post(
        "/v1/workflows/{id}/signal",
        "/v1/workflows/wf-1/signal",
        Some(ACME_KEY),
        json!({"name": "while-streaming"}),
    );
    assert_eq!(r.status, 204);
    let deadline = Instant::now() + Duration::from_secs(30);
    while next_event().expect("stream open") != "WorkflowExecutionSignaled" {
        assert!(Instant::now() < deadline, "the new signal was not streamed");
    }
    // The stream is still open when the server stops: shutdown ends it.
    let stopping = std::thread::spawn(move || s.stop());
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(name) = next_event() {
        assert!(Instant::now() < deadline, "the stream did not end: {name}");
    }
    stopping.join().unwrap().expect("clean stop");
}

#[test]
fn operations_routes_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(config(dir.path()));
    let r = s.get("/healthz", "/healthz", None);
    assert_eq!((r.status, &r.json), (200, &json!({"status": "ok"})));
    let r = s.get("/readyz", "/readyz", None);
    assert_eq!((r.status, &r.json), (200, &json!({"status": "ready"})));
    s.get(WF, "/v1/workflows/secret-id-123", Some(ACME_KEY));
    let r = s.get("/metrics", "/metrics", None);
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain"));
    assert!(
        r.text
            .lines()
            .any(|l| l.starts_with("weft_http_requests_total")
                && l.contains(r#"route="/v1/workflows/{id}""#)
                && l.contains(r#"status="404""#)),
        "{}",
        r.text
    );
    assert!(r.text.contains("weft_http_request_seconds"), "{}", r.text);
    // The host's own metrics reach the same recorder: the server's start committed (the
    // control of the database), and the cache counters are read at the scrape.
    for name in ["weft_commit_seconds", "weft_sticky_cache_entries"] {
        assert!(r.text.contains(name), "{name} missing:\n{}", r.text);
    }
    assert!(
        !r.text.contains("secret-id-123"),
        "the raw URI is never a label"
    );
    s.stop().unwrap();
}

#[test]
fn open_mode_on_loopback_and_refusal_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let open = weft_server::ServerConfig {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let s = TestServer::start(open.clone());
    let r = s.get("/v1/workflows", "/v1/workflows", None);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.get("/v1/namespaces", "/v1/namespaces", None);
    assert_eq!(r.status, 200, "{}", r.text);
    s.stop().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
            weft_server::serve(open, listener, std::future::pending()).await
        })
        .expect_err("refused without an admin key");
    assert!(err.to_string().contains("admin key"), "{err:#}");
}

#[test]
fn shutdown_ends_long_polls_and_closes_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = server_with_workflow(dir.path());
    let base = s.base();
    let poll = std::thread::spawn(move || {
        let started = Instant::now();
        let mut r = ureq::get(format!("{base}/v1/workflows/wf-1/result?wait_ms=60000"))
            .header("Authorization", format!("Bearer {ACME_KEY}"))
            .call()
            .unwrap();
        (started.elapsed(), r.body_mut().read_to_string().unwrap())
    });
    std::thread::sleep(Duration::from_millis(300));
    s.stop().expect("serve returns Ok");
    let (took, body) = poll.join().unwrap();
    assert!(
        took < Duration::from_secs(30),
        "the long poll ended with the server: {took:?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"done": false})
    );
    // The host closed its file cleanly: a reader opens it without recovery.
    let offline = weft::Offline::new(dir.path().join("weft.redb"), "acme").unwrap();
    assert_eq!(offline.read_note().unwrap(), None);
    assert_eq!(
        offline.describe("wf-1").unwrap().status,
        weft::RunStatus::Running
    );
}

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

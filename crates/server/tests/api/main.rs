//! The HTTP API end to end, in-process: refusals, authentication, operations routes, the
//! event stream and shutdown here; admin changes at runtime and namespace isolation in
//! `admin`; every reply against the OpenAPI document in `openapi`.

mod admin;
mod common;
mod openapi;

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

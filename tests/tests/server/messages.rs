//! Messages from the command line (signals, queries, updates, terminate) and a remote Nexus
//! worker over HTTP.

use super::*;

#[test]
fn signals_queries_updates_and_terminate_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let k = DEFAULT_KEY;
    server.weft_ok(
        k,
        &["component", "register", "semantics", weft_tests::SEMANTICS],
    );
    let worker = python_worker(&server, k, &[]);

    server.weft_ok(k, &["start", "semantics", "u-1", r#"{"mode":"update"}"#]);
    // The accepted update runs its `step` activity on the worker, then answers.
    let out = server.weft_ok(k, &["update", "u-1", "add", "5", "--id", "first"]);
    assert_eq!(out.trim(), "5");
    // The same update id is the same update: not applied twice.
    let again: Value = serde_json::from_str(
        &server.weft_ok(k, &["update", "u-1", "add", "5", "--id", "first", "--json"]),
    )
    .unwrap();
    assert_eq!(again["result"], 5, "{again}");
    let rejected = server.weft(k, &["update", "u-1", "add", "-3"]);
    assert_eq!(rejected.code, 1, "{}", rejected.stdout);
    assert!(
        rejected.stderr.contains("-3 is negative"),
        "{}",
        rejected.stderr
    );
    assert_eq!(server.weft_ok(k, &["query", "u-1", "total"]).trim(), "5");
    let unknown = server.weft(k, &["query", "u-1", "nope"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stdout);
    server.weft_ok(k, &["signal", "u-1", "finish"]);
    let result: Value = serde_json::from_str(&server.weft_ok(k, &["result", "u-1"])).unwrap();
    assert_eq!(result, json!({"total": 5}));

    // Signal-with-start: started by the signal, which ends it.
    let out = server.weft_ok(
        k,
        &[
            "signal",
            "w-2",
            "finish",
            "--start",
            "semantics",
            "--start-input",
            r#"{"mode":"update"}"#,
        ],
    );
    assert!(out.starts_with("signal-with-start w-2 (run "), "{out}");
    let result: Value = serde_json::from_str(&server.weft_ok(k, &["result", "w-2"])).unwrap();
    assert_eq!(result, json!({"total": 0}));

    // A terminated run: `result` says so and exits 1.
    server.weft_ok(k, &["start", "semantics", "t-1", r#"{"mode":"update"}"#]);
    server.weft_ok(k, &["terminate", "t-1", "--reason", "enough"]);
    let out = server.weft(k, &["result", "t-1"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("workflow t-1 terminated"),
        "{}",
        out.stderr
    );
    let described: Value =
        serde_json::from_str(&server.weft_ok(k, &["describe", "t-1", "--json"])).unwrap();
    assert_eq!(described["status"], "terminated");

    let w = worker.terminate(Duration::from_secs(10));
    assert_eq!(w.code, 0, "{}", w.stderr);
}

#[test]
fn a_remote_nexus_worker_answers_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let k = DEFAULT_KEY;
    let server = Server::start(dir.path());
    server.weft_ok(
        k,
        &["component", "register", "features", weft_tests::FEATURES],
    );
    let poll = "/v1/nexus-endpoints/calc/tasks/poll";
    let respond = "/v1/nexus-tasks/respond";

    // A synchronous operation answered with its result.
    server.weft_ok(
        k,
        &[
            "start",
            "features",
            "n-sync",
            r#"{"mode":"nexus-sync","n":5}"#,
        ],
    );
    let (status, task) = server.http(k, "POST", poll, Some(json!({"wait_ms": 10_000})));
    assert_eq!(status, 200, "{task}\n{}", server.log());
    assert_eq!(
        (
            &task["kind"],
            &task["service"],
            &task["operation"],
            &task["input"]
        ),
        (
            &json!("start"),
            &json!("math"),
            &json!("add"),
            &json!({"a": 2, "b": 5})
        )
    );
    // Two answers at once are refused.
    let (status, body) = server.http(
        k,
        "POST",
        respond,
        Some(json!({"task_token": task["task_token"], "completed": 7, "cancel_accepted": true})),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.http(
        k,
        "POST",
        respond,
        Some(json!({"task_token": task["task_token"], "completed": 7})),
    );
    assert_eq!(status, 204, "{body}");
    let out = server.weft_ok(k, &["result", "n-sync"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"sum": 7})
    );

    // An asynchronous one, started, then completed by its operation token.
    server.weft_ok(
        k,
        &["start", "features", "n-async", r#"{"mode":"nexus-async"}"#],
    );
    let (_, task) = server.http(k, "POST", poll, Some(json!({"wait_ms": 10_000})));
    let started = json!({"task_token": task["task_token"], "started": {"operation_token": "op-1"}});
    assert_eq!(server.http(k, "POST", respond, Some(started)).0, 204);
    let done = json!({"operation_token": "op-1", "result": "later"});
    let complete = "/v1/nexus-operations/complete";
    assert_eq!(server.http(k, "POST", complete, Some(done.clone())).0, 204);
    // Once is enough: the operation is no longer pending.
    assert_eq!(server.http(k, "POST", complete, Some(done)).0, 404);
    let out = server.weft_ok(k, &["result", "n-async"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"async": "later"})
    );
}

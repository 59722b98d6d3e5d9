//! Runtime administration through the command line: namespaces and keys, component versions.

use super::*;

#[test]
fn a_namespace_and_key_created_at_runtime_serve_at_once_and_reach_only_their_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());

    let out = server.weft_ok(
        ADMIN_KEY,
        &["namespace", "create", "acme", "--max-open-workflows", "10"],
    );
    assert_eq!(out.trim(), "created namespace acme");
    let created: Value = serde_json::from_str(&server.weft_ok(
        ADMIN_KEY,
        &["key", "create", "acme", "--label", "ci", "--json"],
    ))
    .unwrap();
    let acme = created["key"]
        .as_str()
        .expect("the key is shown")
        .to_string();
    let key_id = created["key_id"].as_str().unwrap().to_string();

    let out = server.weft_ok(ADMIN_KEY, &["namespace", "list"]);
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("acme") && l.contains("max_open_workflows=10")),
        "{out}"
    );
    let out = server.weft_ok(ADMIN_KEY, &["key", "list", "acme"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&key_id) && l.contains("ci")),
        "{out}"
    );

    // The new key works at once: a component and a workflow (no activities) in acme.
    server.weft_ok(
        &acme,
        &["component", "register", "steps", weft_tests::STEPS],
    );
    server.weft_ok(
        &acme,
        &["start", "steps", "a-1", r#"{"count":0,"sleep_ms":1}"#],
    );
    let result = server.weft_ok(&acme, &["result", "a-1"]);
    assert_eq!(
        serde_json::from_str::<Value>(&result).unwrap(),
        json!({"results": []})
    );

    // A workflow of default is not there for acme's key (404, as an unknown id).
    server.weft_ok(
        DEFAULT_KEY,
        &["component", "register", "steps", weft_tests::STEPS],
    );
    server.weft_ok(
        DEFAULT_KEY,
        &["start", "steps", "d-1", r#"{"count":0,"sleep_ms":1}"#],
    );
    server.weft_ok(DEFAULT_KEY, &["result", "d-1"]);
    let out = server.weft(&acme, &["describe", "d-1"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    let (status, body) = server.http(&acme, "GET", "/v1/workflows/d-1", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let listed: Value = serde_json::from_str(&server.weft_ok(&acme, &["list", "--json"])).unwrap();
    assert_eq!(listed["workflows"].as_array().unwrap().len(), 1, "{listed}");

    // Admin commands are refused to a namespace key.
    for args in [
        &["namespace", "list"][..],
        &["namespace", "create", "evil"],
        &["key", "create", "acme"],
        &["key", "list", "default"],
    ] {
        let out = server.weft(&acme, args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stdout);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
    let (status, body) = server.http(&acme, "GET", "/v1/namespaces", None);
    assert_eq!(status, 403, "{body}");

    // Revoked, the key reaches nothing.
    server.weft_ok(ADMIN_KEY, &["key", "revoke", "acme", &key_id]);
    let (status, body) = server.http(&acme, "GET", "/v1/workflows/a-1", None);
    assert_eq!(status, 401, "{body}");
}

#[test]
fn a_new_version_is_checked_registered_and_old_runs_keep_theirs_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = DEFAULT_KEY;
    let server = Server::start(dir.path());
    server.weft_ok(k, &["component", "register", "steps", weft_tests::STEPS]);
    server.weft_ok(k, &["start", "steps", "v-1", r#"{"count":2,"sleep_ms":1}"#]);
    let v1 = server.http(k, "GET", "/v1/workflows/v-1", None).1["component_digest"].clone();
    assert!(v1.as_str().unwrap().starts_with("sha256:"), "{v1}");

    // A raw worker completes step 0 and holds step 1, which v1 schedules as `step`.
    let poll = "/v1/task-queues/default/activity-tasks/poll";
    let complete = "/v1/activity-tasks/complete";
    let (_, task) = server.http(k, "POST", poll, Some(json!({"wait_ms": 10_000})));
    let body = json!({"task_token": task["task_token"], "result": "step-0"});
    assert_eq!(server.http(k, "POST", complete, Some(body)).0, 204);
    let (_, held) = server.http(k, "POST", poll, Some(json!({"wait_ms": 10_000})));
    assert_eq!(held["input"], json!({"i": 1}), "{held}");

    // v2 renames that activity: the dry run names v-1 as diverging and exits 1.
    let check = server.weft(
        k,
        &["component", "check", "steps", weft_tests::STEPS_CHANGED],
    );
    assert_eq!(check.code, 1, "{}", check.stdout);
    assert!(
        check.stdout.contains("would diverge: v-1") && check.stdout.contains("step_renamed"),
        "{}",
        check.stdout
    );
    let out = server.weft_ok(
        k,
        &[
            "component",
            "register",
            "steps",
            weft_tests::STEPS_CHANGED,
            "--move-compatible-runs",
        ],
    );
    assert!(out.contains("would diverge: v-1"), "{out}");

    // A crash and a restart: v-1 keeps running v1 (its second step stays `step`), a new run
    // gets v2.
    server.kill();
    let server = Server::start(dir.path());
    let (_, d) = server.http(k, "GET", "/v1/workflows/v-1", None);
    assert_eq!(d["component_digest"], v1);
    server.weft_ok(k, &["start", "steps", "v-2", r#"{"count":2,"sleep_ms":1}"#]);
    let (_, d2) = server.http(k, "GET", "/v1/workflows/v-2", None);
    assert_ne!(d2["component_digest"], v1);
    let worker = python_worker(&server, k, &[]);
    for id in ["v-1", "v-2"] {
        let result = server.weft(k, &["result", id]);
        assert_eq!(result.code, 0, "{}\n{}", result.stderr, server.log());
        let d = server.weft_ok(k, &["describe", id]);
        assert!(d.contains("component"), "{d}");
    }
    drop(worker);
    let types = |id: &str| -> Vec<String> {
        let h: Value =
            serde_json::from_str(&server.weft_ok(k, &["history", id, "--json"])).unwrap();
        h["events"]
            .as_array()
            .unwrap_or_else(|| panic!("no events in {h}"))
            .iter()
            .filter_map(|e| e["kind"]["ActivityTaskScheduled"]["activity_type"].as_str())
            .map(str::to_string)
            .collect()
    };
    assert_eq!(types("v-1"), ["step", "step"]);
    assert_eq!(types("v-2"), ["step", "step_renamed"]);
}

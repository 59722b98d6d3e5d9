//! `weft server` as a real process, driven by the `weft` command line as an HTTP client and
//! served by the external workers of examples/workers (Python, TypeScript). Here: the harness,
//! a workflow from start to result, a SIGKILL of the server while a remote worker holds a
//! task, and a clean SIGTERM. `admin`: a namespace and key created at runtime, a new
//! component version. `messages`: signals, queries, updates, terminate and a remote Nexus
//! worker.

mod admin;
mod messages;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
const DEFAULT_KEY: &str = "default-key-0123456789abcdef";

/// The repository's root (the tests crate is `tests/`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A `weft server` process; killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    address: String,
    log: PathBuf,
}

impl Server {
    /// Starts `weft server` on `data_dir` with the test configuration, on a free port, and
    /// waits for its `listening on` line.
    fn start(dir: &Path) -> Server {
        let config = dir.join("weft.toml");
        std::fs::write(
            &config,
            format!(
                "admin_key = \"{ADMIN_KEY}\"\n\n[namespaces.default]\napi_keys = [\"{DEFAULT_KEY}\"]\n"
            ),
        )
        .unwrap();
        let log = dir.join("server.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft_cli"))
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .arg("--config")
            .arg(&config)
            .env_remove("WEFT_ADMIN_KEY")
            .env_remove("WEFT_LISTEN")
            .env_remove("WEFT_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start weft server");
        // Read stdout on a thread (and keep draining it) so a silent server cannot hang us.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "weft server printed no `listening on` line within 30 s; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            address,
            log,
        }
    }

    /// SIGTERM, and the exit code once the server stopped (at most 30 s).
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let until = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                std::time::Instant::now() < until,
                "weft server did not stop within 30 s of SIGTERM; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash: nothing is flushed or shut down.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs the `weft` command line against this server with `key`.
    fn weft(&self, key: &str, args: &[&str]) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft_cli"));
        cmd.args(["--address", &self.address, "--api-key", key])
            .args(args)
            .env_remove("WEFT_NAMESPACE")
            .env_remove("WEFT_DB");
        run(cmd, Duration::from_secs(30))
    }

    /// [`Server::weft`] that must succeed; returns its stdout.
    fn weft_ok(&self, key: &str, args: &[&str]) -> String {
        let out = self.weft(key, args);
        assert_eq!(
            out.code,
            0,
            "weft {args:?} failed: {}\nstdout: {}\nserver log:\n{}",
            out.stderr,
            out.stdout,
            self.log()
        );
        out.stdout
    }

    /// A raw request: (status, JSON body or null).
    fn http(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.address))
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut resp = agent
            .run(req.body(body).unwrap())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker or follower process; SIGKILLed when dropped if still running.
struct Proc {
    child: Child,
    what: String,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command, what: &str) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        Proc {
            stdout: drain(child.stdout.take().unwrap()),
            stderr: drain(child.stderr.take().unwrap()),
            child,
            what: what.to_string(),
        }
    }

    /// Waits up to `limit` for the process to exit; returns its output. Panics with what it
    /// printed so far on a timeout.
    fn wait(mut self, limit: Duration) -> Out {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Out {
                    code: status.code().unwrap_or(-1),
                    stdout: self.stdout.recv().unwrap_or_default(),
                    stderr: self.stderr.recv().unwrap_or_default(),
                };
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {limit:?}\nstdout: {}\nstderr: {}",
                    self.what,
                    self.stdout.recv().unwrap_or_default(),
                    self.stderr.recv().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then [`Proc::wait`].
    fn terminate(self, limit: Duration) -> Out {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        self.wait(limit)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a pipe to its end on a thread; the channel gets everything once it closes.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
    });
    rx
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to its end, killing it after `limit`.
fn run(cmd: Command, limit: Duration) -> Out {
    let what = format!("{cmd:?}");
    Proc::spawn(cmd, &what).wait(limit)
}

fn python_worker(server: &Server, key: &str, extra: &[&str]) -> Proc {
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("examples/workers/python/worker.py"))
        .args(["--address", &server.address, "--api-key", key])
        .args(["--poll-wait-ms", "2000"])
        .args(extra);
    Proc::spawn(cmd, "the Python worker")
}

/// Builds the TypeScript worker (npm install when node_modules is missing, then the build)
/// and starts it.
fn typescript_worker(server: &Server, key: &str, extra: &[&str]) -> Proc {
    let dir = repo().join("examples/workers/typescript");
    if !dir.join("node_modules").is_dir() {
        let mut npm = Command::new("npm");
        npm.args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir);
        let out = run(npm, Duration::from_secs(240));
        assert_eq!(out.code, 0, "npm install: {}{}", out.stdout, out.stderr);
    }
    let mut build = Command::new("npm");
    build.args(["run", "build"]).current_dir(&dir);
    let out = run(build, Duration::from_secs(120));
    assert_eq!(out.code, 0, "npm run build: {}{}", out.stdout, out.stderr);
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("dist/worker.js"))
        .args(["--address", &server.address, "--api-key", key])
        .args(["--poll-wait-ms", "2000"])
        .args(extra);
    Proc::spawn(cmd, "the TypeScript worker")
}

/// The event type names of a `history --json` answer, in order.
fn event_types(history: &Value) -> Vec<String> {
    history["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {history}"))
        .iter()
        .map(|e| match &e["kind"] {
            Value::Object(m) => m.keys().next().unwrap().clone(),
            Value::String(s) => s.clone(),
            other => panic!("event kind {other}"),
        })
        .collect()
}

/// The `scheduled_event_id` of every ActivityTaskCompleted of a `history --json` answer.
fn completed_activities(history: &Value) -> Vec<u64> {
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"]["ActivityTaskCompleted"]["scheduled_event_id"].as_u64())
        .collect()
}

/// A whole workflow from the command line, its `step` activities served by `worker`.
fn full_workflow(worker: fn(&Server, &str, &[&str]) -> Proc) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let k = DEFAULT_KEY;

    let out = server.weft_ok(k, &["component", "register", "steps", weft_tests::STEPS]);
    assert!(out.contains("registered steps: sha256:"), "{out}");
    let out = server.weft_ok(k, &["component", "list"]);
    assert!(out.starts_with("TYPE"), "{out}");
    assert!(out.contains("steps"), "{out}");

    let out = server.weft_ok(k, &["start", "steps", "s-1", r#"{"count":2,"sleep_ms":1}"#]);
    assert!(out.starts_with("started s-1 (run "), "{out}");
    // Started again while it runs: the server's conflict, exit 1.
    let again = server.weft(k, &["start", "steps", "s-1", "{}"]);
    assert_eq!(again.code, 1, "{}", again.stdout);

    // Follow the history while it is written.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_weft_cli"));
    follow.args([
        "--address",
        &server.address,
        "--api-key",
        k,
        "history",
        "s-1",
        "--follow",
    ]);
    let follow = Proc::spawn(follow, "weft history --follow");

    let worker = worker(&server, k, &["--once", "2"]);
    let result = server.weft(k, &["result", "s-1"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, server.log());
    let value: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(value, json!({"results": ["step-0", "step-1"]}));
    assert_eq!(
        result.stderr, "",
        "no spinner when stderr is not a terminal"
    );

    let w = worker.wait(Duration::from_secs(20));
    assert_eq!(w.code, 0, "worker: {}", w.stderr);
    assert!(
        w.stderr.contains("step attempt 1 of s-1 completed"),
        "{}",
        w.stderr
    );

    let followed = follow.wait(Duration::from_secs(20));
    assert_eq!(followed.code, 0, "{}", followed.stderr);
    let lines: Vec<&str> = followed.stdout.lines().collect();
    assert!(
        lines[0].contains("WorkflowExecutionStarted"),
        "{}",
        followed.stdout
    );
    assert!(
        lines.last().unwrap().contains("WorkflowExecutionCompleted"),
        "{}",
        followed.stdout
    );

    let out = server.weft_ok(k, &["describe", "s-1"]);
    assert!(out.contains("status:        completed"), "{out}");
    assert!(out.contains("type:          steps"), "{out}");
    let described: Value =
        serde_json::from_str(&server.weft_ok(k, &["describe", "s-1", "--json"])).unwrap();
    assert_eq!(described["status"], "completed");

    let out = server.weft_ok(k, &["list"]);
    let mut rows = out.lines();
    assert!(
        rows.next().unwrap().starts_with("WORKFLOW ID  TYPE"),
        "{out}"
    );
    let row = rows.next().unwrap();
    assert!(row.starts_with("s-1") && row.contains("completed"), "{out}");
    let listed: Value =
        serde_json::from_str(&server.weft_ok(k, &["list", "--json", "--status", "completed"]))
            .unwrap();
    assert_eq!(listed["workflows"][0]["workflow_id"], "s-1");
    let none: Value =
        serde_json::from_str(&server.weft_ok(k, &["list", "--json", "--status", "running"]))
            .unwrap();
    assert_eq!(none["workflows"], json!([]));

    let history: Value =
        serde_json::from_str(&server.weft_ok(k, &["history", "s-1", "--json"])).unwrap();
    let types = event_types(&history);
    assert_eq!(types.first().unwrap(), "WorkflowExecutionStarted");
    assert_eq!(types.last().unwrap(), "WorkflowExecutionCompleted");
    assert_eq!(completed_activities(&history).len(), 2, "{types:?}");
    // The text form and the followed stream show the same events.
    let text = server.weft_ok(k, &["history", "s-1"]);
    assert_eq!(text.lines().count(), types.len(), "{text}");
    assert_eq!(lines.len(), types.len(), "{}", followed.stdout);
}

#[test]
fn a_workflow_from_the_command_line_served_by_the_python_worker() {
    full_workflow(python_worker);
}

#[test]
fn a_workflow_from_the_command_line_served_by_the_typescript_worker() {
    full_workflow(typescript_worker);
}

#[test]
fn a_server_killed_while_a_remote_worker_holds_a_task_goes_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = DEFAULT_KEY;
    let server = Server::start(dir.path());
    server.weft_ok(k, &["component", "register", "steps", weft_tests::STEPS]);
    server.weft_ok(k, &["start", "steps", "k-1", r#"{"count":3,"sleep_ms":1}"#]);

    // A worker takes step 0 and never reports it.
    let poll = "/v1/task-queues/default/activity-tasks/poll";
    let (status, task) = server.http(k, "POST", poll, Some(json!({"wait_ms": 10_000})));
    assert_eq!(status, 200, "{task}\n{}", server.log());
    assert_eq!(task["activity_type"], "step");
    assert_eq!(task["input"], json!({"i": 0}));
    assert_eq!(task["attempt"], 1);
    let stale_token = task["task_token"].clone();

    server.kill();
    let server = Server::start(dir.path());

    let worker = python_worker(&server, k, &[]);
    let result = server.weft(k, &["result", "k-1"]);
    assert_eq!(result.code, 0, "{}\n{}", result.stderr, server.log());
    let value: Value = serde_json::from_str(&result.stdout).unwrap();
    assert_eq!(value, json!({"results": ["step-0", "step-1", "step-2"]}));

    // SIGTERM stops the idle worker cleanly.
    let w = worker.terminate(Duration::from_secs(10));
    assert_eq!(w.code, 0, "{}", w.stderr);
    assert!(w.stderr.contains("stopped after 3 task(s)"), "{}", w.stderr);
    assert!(
        w.stderr.contains("step attempt 2 of k-1 completed"),
        "{}",
        w.stderr
    );

    // The lost attempt's worker reports late: refused, nothing recorded.
    let (status, body) = server.http(
        k,
        "POST",
        "/v1/activity-tasks/complete",
        Some(json!({"task_token": stale_token, "result": "step-0"})),
    );
    assert_eq!(status, 404, "{body}");

    let history: Value =
        serde_json::from_str(&server.weft_ok(k, &["history", "k-1", "--json"])).unwrap();
    let types = event_types(&history);
    let scheduled = types
        .iter()
        .filter(|t| *t == "ActivityTaskScheduled")
        .count();
    let mut completed = completed_activities(&history);
    assert_eq!((scheduled, completed.len()), (3, 3), "{types:?}");
    completed.dedup();
    assert_eq!(completed.len(), 3, "an activity completed twice: {types:?}");
}

#[test]
fn sigterm_stops_the_server_cleanly_and_a_restart_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let k = DEFAULT_KEY;
    let server = Server::start(dir.path());
    server.weft_ok(k, &["component", "register", "steps", weft_tests::STEPS]);
    server.weft_ok(k, &["start", "steps", "t-1", r#"{"count":1,"sleep_ms":1}"#]);
    // /metrics shows the host at work: its first task ran, its activity waits in the queue.
    let metrics = || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        agent
            .get(format!("{}/metrics", server.address))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let queued = r#"weft_activity_queue_depth{namespace="default",task_queue="default"} 1"#;
    let mut text = metrics();
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !text.contains(queued) && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        text = metrics();
    }
    for wanted in [
        queued,
        "weft_activity_queue_oldest_wait_seconds",
        r#"weft_workflow_tasks_total{namespace="default",outcome="completed"}"#,
        "weft_workflow_task_guest_seconds",
        "weft_commit_seconds",
    ] {
        assert!(
            text.contains(wanted),
            "{wanted} missing from /metrics:\n{text}"
        );
    }
    // A long poll in flight when the signal comes ends with "no task" rather than an error.
    let address = server.address.clone();
    let poller = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        agent
            .post(format!(
                "{address}/v1/task-queues/other/activity-tasks/poll"
            ))
            .header("Authorization", format!("Bearer {DEFAULT_KEY}"))
            .send_json(json!({"wait_ms": 60_000}))
            .map(|r| r.status().as_u16())
    });
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log.clone();
    assert_eq!(server.terminate(), Some(0));
    assert_eq!(poller.join().unwrap().unwrap(), 204);
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("weft host shut down"), "{log}");

    let server = Server::start(dir.path());
    let (_, d) = server.http(k, "GET", "/v1/workflows/t-1", None);
    assert_eq!(d["status"], "running", "{d}");
    let worker = python_worker(&server, k, &[]);
    let result = server.weft(k, &["result", "t-1"]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    drop(worker);
    assert_eq!(server.terminate(), Some(0));
}

//! Signals, updates and child workflows survive a host process killed with SIGKILL in the
//! middle: the restarted host continues from the recorded events, nothing is delivered or
//! applied twice.

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use weft::{Namespace, WorkflowId};

use weft_tests::{log_lines, wait_blocking};

const HOST: &str = env!("CARGO_BIN_EXE_test_host");

fn spawn(db: &Path, log: &Path, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(HOST)
        .arg("--db")
        .arg(db)
        .arg("--log")
        .arg(log)
        .arg("--wasm")
        .arg(format!("semantics={}", weft_tests::SEMANTICS))
        .args(["--step-ms", "1500", "--retry-ms", "100"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn test host");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads lines until one starts with `prefix`.
fn read_until(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    lines
        .map(|l| l.unwrap())
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("the host exited before printing {prefix}"))
}

fn kill(mut child: Child) {
    child.kill().expect("kill -9");
    child.wait().unwrap();
}

/// Event names of workflow `id`'s current run, read after the host is gone.
fn names(db: &Path, id: &str) -> Vec<&'static str> {
    let store = weft_store_redb::open(db, 0).expect("open db");
    let (run, _) = store
        .current_run(&Namespace::default_namespace(), &WorkflowId::from(id))
        .unwrap();
    store
        .load_run(run)
        .unwrap()
        .1
        .iter()
        .map(|e| e.kind.name())
        .collect()
}

fn count(names: &[&str], name: &str) -> usize {
    names.iter().filter(|n| **n == name).count()
}

#[test]
fn signals_sent_before_a_kill_are_kept_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("s.redb"), dir.path().join("runs.log"));
    let start = [
        "--start",
        "wf",
        "--type",
        "semantics",
        "--input",
        r#"{"mode":"signals"}"#,
    ];
    let (child, mut lines) = spawn(
        &db,
        &log,
        &[
            &start[..],
            &[
                "--signal", "wf", "add", "1", "--signal", "wf", "add", "2", "--wait", "wf",
            ],
        ]
        .concat(),
    );
    read_until(&mut lines, "SIGNALED add 2");
    kill(child);
    let (mut child, mut lines) = spawn(
        &db,
        &log,
        &[
            "--signal", "wf", "add", "3", "--signal", "wf", "done", "null", "--wait", "wf",
        ],
    );
    let result = read_until(&mut lines, "RESULT");
    assert!(child.wait().unwrap().success());
    assert_eq!(result, r#"RESULT {"echo":"step-6","seen":[1,2,3],"sum":6}"#);
    assert_eq!(count(&names(&db, "wf"), "WorkflowExecutionSignaled"), 4);
}

#[test]
fn an_update_accepted_before_a_kill_completes_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("u.redb"), dir.path().join("runs.log"));
    let (child, _lines) = spawn(
        &db,
        &log,
        &[
            "--start",
            "wf",
            "--type",
            "semantics",
            "--input",
            r#"{"mode":"update"}"#,
            "--update",
            "wf",
            "add",
            "5",
            "u-1",
            "--wait",
            "wf",
        ],
    );
    // The handler's activity runs: the update was accepted and committed.
    wait_blocking("the run log", || !log_lines(&log).is_empty());
    kill(child);
    let before = names(&db, "wf");
    assert_eq!(count(&before, "WorkflowExecutionUpdateAccepted"), 1);
    assert_eq!(count(&before, "WorkflowExecutionUpdateCompleted"), 0);

    // The caller retries with the same update id after the restart.
    let (mut child, mut lines) = spawn(
        &db,
        &log,
        &[
            "--update", "wf", "add", "5", "u-1", "--signal", "wf", "finish", "null", "--wait", "wf",
        ],
    );
    assert_eq!(read_until(&mut lines, "UPDATE"), "UPDATE 5");
    assert_eq!(read_until(&mut lines, "RESULT"), r#"RESULT {"total":5}"#);
    assert!(child.wait().unwrap().success());
    let after = names(&db, "wf");
    assert_eq!(count(&after, "WorkflowExecutionUpdateAccepted"), 1);
    assert_eq!(count(&after, "WorkflowExecutionUpdateCompleted"), 1);
}

#[test]
fn children_running_at_a_kill_finish_and_report_to_their_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("c.redb"), dir.path().join("runs.log"));
    let input = r#"{"mode":"parent","children":["c1","c2"],"child_mode":"child","wait":true}"#;
    let (child, _lines) = spawn(
        &db,
        &log,
        &[
            "--start",
            "p",
            "--type",
            "semantics",
            "--input",
            input,
            "--wait",
            "p",
        ],
    );
    // Both children's activities are running.
    wait_blocking("the run log", || log_lines(&log).len() >= 2);
    kill(child);
    let before = names(&db, "p");
    assert_eq!(count(&before, "ChildWorkflowExecutionStarted"), 2);
    assert_eq!(count(&before, "ChildWorkflowExecutionCompleted"), 0);

    let (mut child, mut lines) = spawn(&db, &log, &["--wait", "p"]);
    let result = read_until(&mut lines, "RESULT");
    assert!(child.wait().unwrap().success());
    assert!(
        result.contains(r#""double":2"#) && result.contains(r#""double":4"#),
        "{result}"
    );
    let after = names(&db, "p");
    assert_eq!(count(&after, "StartChildWorkflowExecutionInitiated"), 2);
    assert_eq!(count(&after, "ChildWorkflowExecutionCompleted"), 2);
    for kid in ["c1", "c2"] {
        let n = names(&db, kid);
        assert_eq!(
            n.last(),
            Some(&"WorkflowExecutionCompleted"),
            "{kid}: {n:?}"
        );
    }
}

/// Signals arrive while the run closes and the host is killed in the middle: after the
/// restart every recorded signal reached the code (it is in the result) or kept the run
/// open, and every signal acknowledged before the kill is recorded.
#[test]
fn signals_arriving_while_a_run_closes_are_never_lost_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("close.redb"), dir.path().join("runs.log"));
    let mut args: Vec<String> = [
        "--start",
        "wf",
        "--type",
        "semantics",
        "--input",
        r#"{"mode":"prevent-close"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in 1..=40 {
        args.extend(["--signal", "wf", "add"].map(String::from));
        args.push(n.to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (child, mut lines) = spawn(&db, &log, &args);
    // Kill once a few signals were answered (acknowledged, or refused because the run
    // closed), while others are still being sent.
    let mut acked = Vec::new();
    let mut answered = 0;
    while answered < 5 {
        let Some(line) = lines.next() else { break };
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("SIGNALED add ") {
            acked.push(n.parse::<i64>().unwrap());
        }
        if line.starts_with("SIGNAL") {
            answered += 1;
        }
    }
    kill(child);
    let (mut child, mut lines) = spawn(&db, &log, &["--wait", "wf"]);
    let result = read_until(&mut lines, "RESULT");
    assert!(child.wait().unwrap().success());
    let seen: Vec<i64> = serde_json::from_str(result.strip_prefix("RESULT ").unwrap()).unwrap();
    let store = weft_store_redb::open(&db, 0).unwrap();
    let (run, rec) = store
        .current_run(&Namespace::default_namespace(), &WorkflowId::from("wf"))
        .unwrap();
    assert!(rec.status.is_closed());
    let recorded: Vec<i64> = store
        .load_run(run)
        .unwrap()
        .1
        .iter()
        .filter_map(|e| match &e.kind {
            weft::history::EventKind::WorkflowExecutionSignaled { input, .. } => {
                Some(serde_json::from_slice(&input.0).unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        seen, recorded,
        "every recorded signal reached the code, in order"
    );
    for n in &acked {
        assert!(
            recorded.contains(n),
            "acknowledged signal {n} was lost: {recorded:?}"
        );
    }
}

/// `HostBuilder::live_readers(false)`: the host locks its file, so an offline read is refused
/// with a clear error while it runs; after it stops, the same read sees what it committed.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_without_live_readers_locks_its_file_until_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.redb");
    let host = weft::HostBuilder::new(&db)
        .live_readers(false)
        .workflow_file("steps", weft_tests::STEPS)
        .start()
        .await
        .unwrap();
    host.start_workflow("steps", "x", serde_json::json!({"count": 0, "sleep_ms": 0}))
        .await
        .unwrap();
    host.result("x").await.unwrap();
    let offline = weft::Offline::new(&db, "default").unwrap();
    let refused = offline.describe("x").unwrap_err().to_string();
    assert!(
        refused.contains("is open in another weft process"),
        "{refused}"
    );
    host.shutdown().await;
    let described = offline.describe("x").unwrap();
    assert_eq!(described.status, weft::RunStatus::Completed);
}

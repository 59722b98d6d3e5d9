//! Durability: a host process killed with SIGKILL at several points of a workflow, then
//! restarted on the same database file, completes the workflow; activities whose completion
//! was committed are not run again, and timers keep their due time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use weft::history::EventKind;
use weft::{Namespace, WorkflowId};

use weft_tests::{log_lines, outcome_line, wait_blocking};

const HOST: &str = env!("CARGO_BIN_EXE_test_host");

fn spawn(db: &Path, log: &Path, start: bool) -> Child {
    let mut cmd = Command::new(HOST);
    cmd.arg("--db")
        .arg(db)
        .arg("--log")
        .arg(log)
        .arg("--wasm")
        .arg(format!("steps={}", weft_tests::STEPS))
        .args(["--wait", "wf", "--step-ms", "150"]);
    if start {
        cmd.args([
            "--start",
            "wf",
            "--type",
            "steps",
            "--input",
            r#"{"count":4,"sleep_ms":300}"#,
        ]);
    }
    cmd.stdout(Stdio::piped()).spawn().expect("spawn test host")
}

/// Completed activity ids, and timer due times, in the history on disk.
fn committed(db: &Path) -> (Vec<u64>, HashMap<u64, u64>) {
    // Opening for writing runs redb's crash recovery, as the restarted host will.
    let store = weft_store_redb::open(db, 0).expect("open db after kill");
    let (run, _) = store
        .current_run(&Namespace::default_namespace(), &WorkflowId::from("wf"))
        .expect("workflow");
    let (_, events) = store.load_run(run).unwrap();
    let mut done = Vec::new();
    let mut timers = HashMap::new();
    for e in events {
        match e.kind {
            EventKind::ActivityTaskCompleted {
                scheduled_event_id, ..
            } => done.push(scheduled_event_id.0),
            EventKind::TimerStarted { fire_at_ms, .. } => {
                timers.insert(e.id.0, fire_at_ms);
            }
            _ => {}
        }
    }
    (done, timers)
}

#[test]
fn kill_9_at_any_point_then_restart_completes_the_workflow() {
    // Kill after the 1st, 2nd and 4th activity run began: during an activity, during a
    // timer, and near the end.
    for kill_after in [1usize, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("crash.redb");
        let log = dir.path().join("runs.log");

        let mut child = spawn(&db, &log, true);
        wait_blocking("the run log", || log_lines(&log).len() >= kill_after);
        child.kill().expect("kill -9");
        child.wait().unwrap();

        let (done_before, timers_before) = committed(&db);
        let runs_before = log_lines(&log).len();

        let mut child = spawn(&db, &log, false);
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let result = stdout
            .lines()
            .map(|l| l.unwrap())
            .find(|l| l.starts_with("RESULT") || l.starts_with("FAILED"))
            .expect("restarted host printed an outcome");
        assert!(child.wait().unwrap().success());
        assert_eq!(
            result, r#"RESULT {"results":["step-0","step-1","step-2","step-3"]}"#,
            "kill after {kill_after}"
        );

        let (done_after, timers_after) = committed(&db);
        assert_eq!(
            done_after.len(),
            4,
            "each activity completed once in history"
        );
        let lines = log_lines(&log);
        assert!(lines.len() >= 4 && lines.len() >= runs_before);
        for id in &done_before {
            let runs = lines
                .iter()
                .filter(|l| l.split(' ').next().unwrap().ends_with(&format!("/{id}")))
                .count();
            assert_eq!(
                runs, 1,
                "activity {id} completed before the kill and ran again"
            );
        }
        for (id, due) in &timers_before {
            assert_eq!(
                timers_after.get(id),
                Some(due),
                "timer {id} kept its due time"
            );
        }
        // Each TimerFired is at or after its timer's due time.
        let store = weft_store_redb::open(&db, 0).unwrap();
        let (run, _) = store
            .current_run(&Namespace::default_namespace(), &WorkflowId::from("wf"))
            .unwrap();
        let (_, events) = store.load_run(run).unwrap();
        for e in &events {
            if let EventKind::TimerFired { started_event_id } = e.kind {
                assert!(e.time_ms >= timers_after[&started_event_id.0]);
            }
        }
    }
}

fn spawn_features(db: &Path, log: &Path, start: Option<&str>) -> Child {
    let mut cmd = Command::new(HOST);
    cmd.arg("--db")
        .arg(db)
        .arg("--log")
        .arg(log)
        .arg("--wasm")
        .arg(format!("features={}", weft_tests::FEATURES))
        .args(["--wait", "wf", "--retry-ms", "100"]);
    if let Some(input) = start {
        cmd.args(["--start", "wf", "--type", "features", "--input", input]);
    }
    cmd.stdout(Stdio::piped()).spawn().expect("spawn test host")
}

#[test]
fn a_long_activity_resumes_from_its_last_heartbeat_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hb.redb");
    let log = dir.path().join("runs.log");
    let mut child = spawn_features(&db, &log, Some(r#"{"mode":"heartbeat","n":30}"#));
    // Heartbeats come every 100 ms; with a 2 s heartbeat timeout they are recorded at most
    // every 1.6 s: the first at once (beat 1), then the latest held back at 1.7 s (about
    // beat 17). Kill well after that.
    wait_blocking("the run log", || {
        log_lines(&log).iter().any(|l| l == "beat 26")
    });
    child.kill().expect("kill -9");
    child.wait().unwrap();
    let last_beat: u64 = log_lines(&log)
        .iter()
        .filter_map(|l| l.strip_prefix("beat ").map(|n| n.parse().unwrap()))
        .max()
        .unwrap();

    let mut child = spawn_features(&db, &log, None);
    assert_eq!(outcome_line(&mut child), r#"RESULT {"steps":30}"#);
    let starts: Vec<(u32, u64)> = log_lines(&log)
        .iter()
        .filter_map(|l| {
            let rest = l.strip_prefix("long ")?;
            let (a, f) = rest.split_once(' ')?;
            Some((a.parse().unwrap(), f.parse().unwrap()))
        })
        .collect();
    assert_eq!(starts[0], (1, 0));
    let (attempt, from) = *starts.last().unwrap();
    assert_eq!(attempt, 2, "{starts:?}");
    // A held-back heartbeat was recorded when its interval ended, so the next attempt lost
    // at most one throttle interval (16 beats) of progress.
    assert!(
        from > 1 && last_beat - from <= 16 + 2,
        "resumed from {from}, last heartbeat {last_beat}"
    );
}

#[test]
fn a_nexus_start_interrupted_by_kill_9_is_redelivered_with_the_same_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nexus.redb");
    let log = dir.path().join("runs.log");
    let mut child = spawn_features(&db, &log, Some(r#"{"mode":"nexus-async"}"#));
    // The handler did its side effect and has not returned: NexusOperationStarted is not
    // recorded yet.
    wait_blocking("the run log", || {
        log_lines(&log).iter().any(|l| l.starts_with("effect "))
    });
    child.kill().expect("kill -9");
    child.wait().unwrap();
    {
        let store = weft_store_redb::open(&db, 0).unwrap();
        let (run, _) = store
            .current_run(&Namespace::default_namespace(), &WorkflowId::from("wf"))
            .unwrap();
        let (_, events) = store.load_run(run).unwrap();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e.kind, EventKind::NexusOperationStarted { .. })),
            "killed before Started was recorded"
        );
    }

    let mut child = spawn_features(&db, &log, None);
    let line = outcome_line(&mut child);
    let lines = log_lines(&log);
    let starts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("start "))
        .collect();
    let effects: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("effect "))
        .collect();
    assert_eq!(
        starts.len(),
        2,
        "delivered again after the restart: {lines:?}"
    );
    assert_eq!(starts[0], starts[1], "with the same request id");
    assert_eq!(effects, [starts[0]], "the operation started once");
    assert_eq!(
        line,
        format!(r#"RESULT {{"async":{{"done":"{}"}}}}"#, starts[0])
    );
}

/// The ids a `--load` host acknowledged (`STARTED id`, `SIGNALED id`) in `lines`.
fn acknowledged<'a>(lines: &'a [String], what: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(what)?.strip_prefix(' '))
        .collect()
}

#[test]
fn kill_9_during_group_commits_of_many_workflows_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.redb");
    let log = dir.path().join("runs.log");
    let host = |extra: &[&str]| {
        Command::new(HOST)
            .arg("--db")
            .arg(&db)
            .arg("--log")
            .arg(&log)
            .arg("--wasm")
            .arg(format!("steps={}", weft_tests::STEPS))
            .args(["--step-ms", "5"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn test host")
    };
    // 400 workflows started and signaled at once, their activities running meanwhile: the
    // writer commits many of them together. Killed once 100 starts and 20 signals were
    // acknowledged.
    let mut child = host(&["--load", "400"]);
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut reader = stdout.lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        lines.push(line);
        if acknowledged(&lines, "STARTED").len() >= 100
            && acknowledged(&lines, "SIGNALED").len() >= 20
        {
            child.kill().expect("kill -9");
            break;
        }
    }
    // What it printed before it died.
    lines.extend(reader.map(|l| l.unwrap()));
    child.wait().unwrap();
    let (started, signaled) = (
        acknowledged(&lines, "STARTED"),
        acknowledged(&lines, "SIGNALED"),
    );
    // The kill lands while writes are in flight (a run on this machine: 399 starts and 21
    // signals acknowledged, the other signals under way); what was acknowledged by then is
    // what is checked.
    eprintln!(
        "acknowledged at the kill: {} starts, {} signals",
        started.len(),
        signaled.len()
    );
    assert!(started.len() >= 100 && signaled.len() >= 20);

    // Every acknowledged start and signal is on disk, once; nothing is applied twice.
    let check = |completed_before: Option<&HashMap<String, Vec<u64>>>| {
        let store = weft_store_redb::open(&db, 0).expect("open db after kill");
        let ns = Namespace::default_namespace();
        let mut completed = HashMap::new();
        for (id, run, _) in store.list(&ns).unwrap() {
            let (_, events) = store.load_run(run).unwrap();
            let count =
                |f: &dyn Fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count();
            assert_eq!(
                count(&|k| matches!(k, EventKind::WorkflowExecutionStarted { .. })),
                1,
                "{id}"
            );
            assert!(count(&|k| matches!(k, EventKind::WorkflowExecutionSignaled { .. })) <= 1);
            for (k, e) in events.iter().enumerate() {
                assert_eq!(e.id.0, k as u64 + 1, "{id}: event ids contiguous");
            }
            let mut done: Vec<u64> = events
                .iter()
                .filter_map(|e| match e.kind {
                    EventKind::ActivityTaskCompleted {
                        scheduled_event_id, ..
                    } => Some(scheduled_event_id.0),
                    _ => None,
                })
                .collect();
            let n = done.len();
            done.dedup();
            assert_eq!(done.len(), n, "{id}: an activity completed twice");
            if let Some(before) = completed_before.and_then(|b| b.get(id.0.as_str())) {
                assert!(
                    before.iter().all(|s| done.contains(s)),
                    "{id}: a completion was lost"
                );
            }
            completed.insert(id.0.clone(), done);
        }
        for id in &started {
            assert!(completed.contains_key(*id), "{id}: acknowledged start lost");
        }
        for id in &signaled {
            let (run, _) = store.current_run(&ns, &WorkflowId::from(*id)).unwrap();
            let (_, events) = store.load_run(run).unwrap();
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::WorkflowExecutionSignaled { .. })),
                "{id}: acknowledged signal lost"
            );
        }
        completed
    };
    let before = check(None);
    let runs_before = log_lines(&log).len();

    // The restarted host finishes every workflow the file holds; an activity completed before
    // the kill does not run again.
    let mut child = host(&["--wait-all"]);
    let out: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| l.unwrap())
        .collect();
    assert!(child.wait().unwrap().success());
    let done = acknowledged(&out, "DONE");
    assert_eq!(done.len(), before.len(), "{out:?}");
    check(Some(&before));
    let lines = log_lines(&log);
    for (id, scheduled) in &before {
        for s in scheduled {
            let again = lines[runs_before..]
                .iter()
                .filter(|l| {
                    let key = l.split(' ').next().unwrap();
                    key.starts_with(&format!("{id}/")) && key.ends_with(&format!("/{s}"))
                })
                .count();
            assert_eq!(
                again, 0,
                "{id}: activity {s} completed before the kill and ran again"
            );
        }
    }
}

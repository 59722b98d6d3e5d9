//! The deterministic simulator (`weft simulate`, `weft::simulate`) on the script workflow
//! (`tests/guests/script`, whose behaviour is its input):
//! - through the real binary, a planted determinism bug (an update validator that changes
//!   state, enabled by a flag in the input) is found, the printed command reproduces the shrunk
//!   case exactly, and without the flag the same seeds pass;
//! - under proptest, random scripts (activities, timers, concurrent waits, races, signals,
//!   children, continue-as-new, failures) pass every check of the simulator with activity
//!   faults, messages, crashes and the sticky cache on and off. CI runs a bounded number of
//!   scripts; `PROPTEST_CASES=500 cargo test -p weft-tests --test simulate` runs more.

use proptest::prelude::*;
use serde_json::{Value, json};
use std::process::Command;
use std::sync::OnceLock;
use weft::simulate::{SimModel, SimPlan, Simulator};

const WEFT: &str = env!("CARGO_BIN_EXE_weft_cli");

fn model() -> SimModel {
    serde_json::from_value(json!({
        "activities": {"*": {"failure_rate": 0.15, "timeout_rate": 0.05, "max_delay_ms": 1500}},
        "signals": [{"name": "go", "payload": {"n": 1}}, {"name": "noise"}],
        "updates": [{"name": "bump", "payload": 2}, {"name": "bump", "payload": -1}],
        "queries": [{"name": "log"}],
        "cancel": true
    }))
    .unwrap()
}

fn three_activities(bug: bool) -> String {
    json!({
        "steps": [
            {"activity": {"name": "a"}},
            {"activity": {"name": "b"}},
            {"activity": {"name": "c"}}
        ],
        "mutate_in_validator": bug
    })
    .to_string()
}

fn weft(args: &[String]) -> (i32, String) {
    let out = Command::new(WEFT).args(args).output().expect("run weft");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The text after `prefix` on the first line that starts with it.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

#[test]
fn a_planted_determinism_bug_is_found_and_its_seed_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let model_file = dir.path().join("model.json");
    std::fs::write(
        &model_file,
        json!({
            "activities": {"*": {"failure_rate": 0.1, "timeout_rate": 0.05, "max_delay_ms": 1000}},
            "updates": [{"name": "bump", "payload": 1}],
            "queries": [{"name": "log"}]
        })
        .to_string(),
    )
    .unwrap();
    let args = |bug: bool| -> Vec<String> {
        [
            "simulate",
            "--component",
            weft_tests::SCRIPT,
            "--workflow",
            "script",
            "--model",
            model_file.to_str().unwrap(),
            "--input",
            &three_activities(bug),
            "--seed",
            "100",
            "--cases",
            "60",
        ]
        .map(String::from)
        .to_vec()
    };

    let (code, out) = weft(&args(true));
    assert_eq!(code, 1, "{out}");
    let problem = line(&out, "FAILED case (seed ");
    assert!(problem.contains("NonDeterminism"), "{out}");
    assert!(problem.contains("TimerStarted"), "names the event: {out}");
    let shrunk_problem = out
        .lines()
        .skip_while(|l| !l.starts_with("shrunk to: "))
        .nth(1)
        .expect("the shrunk case's problem")
        .trim()
        .to_string();
    // Messages are what the bug needs: the shrunk case keeps them and drops the rest it can.
    let shrunk = line(&out, "shrunk to: ");
    assert!(shrunk.contains("--messages on"), "{out}");
    assert!(shrunk.contains("--crashes 0"), "{out}");

    // The printed command runs the shrunk case again, with the same outcome.
    let reproduce = line(&out, "reproduce: weft ");
    let (code2, out2) = weft(&shell_words(reproduce));
    assert_eq!(code2, 1, "{out2}");
    assert_eq!(
        line(&out2, "FAILED case (seed ")
            .split_once("): ")
            .unwrap()
            .1,
        shrunk_problem,
        "{out2}"
    );
    assert!(out2.contains("1 cases in"), "{out2}");

    // Without the bug, the same seeds pass.
    let (code3, out3) = weft(&args(false));
    assert_eq!(code3, 0, "{out3}");
    assert!(out3.contains("60 cases in"), "{out3}");
    assert!(
        out3.contains("ok: every check held in every case"),
        "{out3}"
    );
}

/// Splits a command line printed by `weft simulate` (words, or single-quoted words).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

#[test]
fn the_same_seed_gives_the_same_simulation_and_assertions_are_checked() {
    let sim = simulator();
    let input = weft::Payload::json(&serde_json::from_str(&three_activities(false)).unwrap());
    let plan = SimPlan::new(input.clone(), model(), 7, 12);
    let a = sim.run(&plan);
    let b = sim.run(&plan);
    assert!(a.failure.is_none(), "{:?}", a.failure);
    assert_eq!(format!("{:?}", a.tally), format!("{:?}", b.tally));
    assert!(a.tally.crashes > 0 && a.tally.updates > 0, "{:?}", a.tally);

    // A result the model does not expect is a failure naming the workflow.
    let mut m = model();
    m.expect_results = vec![json!(["something else"])];
    m.expect_status = vec!["completed".into(), "canceled".into(), "running".into()];
    let mut plan = SimPlan::new(input, m, 7, 12);
    plan.pins.faults = Some(false);
    plan.pins.messages = Some(false);
    let r = sim.run(&plan);
    let f = r.failure.expect("an unexpected result fails the case");
    assert!(
        f.problem.contains("not one of the expected results"),
        "{}",
        f.problem
    );
    assert!(f.problem.starts_with("sim-"), "{}", f.problem);
}

fn simulator() -> &'static Simulator {
    static SIM: OnceLock<Simulator> = OnceLock::new();
    SIM.get_or_init(|| {
        let wasm = std::fs::read(weft_tests::SCRIPT).unwrap();
        Simulator::new("script", &wasm, None).unwrap()
    })
}

fn step(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        4 => "[a-d]".prop_map(|n| json!({"activity": {"name": n, "input": {"k": n}}})),
        2 => (0u64..3_000).prop_map(|ms| json!({"timer": {"ms": ms}})),
        1 => Just(json!({"signal": {"name": "go"}})),
        1 => Just(json!({"fail": {"message": "planned"}})),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let inner = prop::collection::vec(step(depth - 1), 1..4);
    prop_oneof![
        6 => leaf,
        1 => inner.clone().prop_map(|s| json!({"all": s})),
        1 => inner.clone().prop_map(|s| json!({"race": s})),
        1 => inner.prop_map(|s| json!({"child": {"steps": s}})),
    ]
    .boxed()
}

fn script() -> impl Strategy<Value = Value> {
    (prop::collection::vec(step(2), 0..7), 0u32..3)
        .prop_map(|(steps, can)| json!({"steps": steps, "continue_as_new": can}))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_scripts_pass_every_check_of_the_simulator(script in script(), seed in any::<u64>()) {
        let mut plan = SimPlan::new(weft::Payload::json(&script), model(), seed, 3);
        plan.shrink = false;
        let report = simulator().run(&plan);
        prop_assert!(
            report.failure.is_none(),
            "script {script}\nfailure {:#?}\ntally {:?}",
            report.failure,
            report.tally
        );
    }
}

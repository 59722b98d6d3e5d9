//! The deterministic simulator's speed: `cargo bench -p weft-tests --bench simulate`.
//! A 10-step workflow (ten activities, each followed by a 100 ms timer: 21 Workflow Tasks per
//! run) under `weft::simulate` with the default knobs drawn per case (1 to 3 runs, up to 3
//! crashes, the sticky cache on or off, activity faults) and every check, including the
//! second run of each case. Prints cases per minute for five batches and their median.

use std::time::Instant;
use weft::simulate::{SimModel, SimPlan, Simulator};

fn main() {
    let component = std::fs::read(weft_tests::STEPS).expect("the steps guest is built");
    let sim = Simulator::new("steps", &component, None).expect("the component compiles");
    let model: SimModel = serde_json::from_value(serde_json::json!({
        "activities": {"step": {"results": ["ok"], "failure_rate": 0.1, "timeout_rate": 0.02, "max_delay_ms": 500}}
    }))
    .expect("a valid model");
    let input = weft::Payload::json(&serde_json::json!({"count": 10, "sleep_ms": 100}));
    let cases = 100;
    let mut rates = Vec::new();
    for batch in 0..5u64 {
        let plan = SimPlan::new(input.clone(), model.clone(), batch * 1_000, cases);
        let began = Instant::now();
        let report = sim.run(&plan);
        let seconds = began.elapsed().as_secs_f64();
        assert!(report.failure.is_none(), "{:?}", report.failure);
        let rate = cases as f64 * 60.0 / seconds;
        println!(
            "batch {batch}: {cases} cases in {seconds:.2} s = {rate:.0} cases/min ({} Workflow Tasks, {} crashes)",
            report.tally.tasks, report.tally.crashes
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "simulate, 10-step workflow, every check: median {:.0} cases/min",
        rates[rates.len() / 2]
    );
}

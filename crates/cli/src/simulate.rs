//! `weft simulate`: a workflow component under the deterministic simulation of a whole host
//! (`weft::simulate`), case after case from a seed; a failing case is printed with its shrunk
//! form and the command that reproduces it.

use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use weft::simulate::{Pins, SimModel, SimPlan, Simulator};

#[derive(Args)]
pub(crate) struct SimulateCmd {
    /// The workflow component (.wasm).
    #[arg(long)]
    component: PathBuf,
    /// The workflow type to start (children of this type run the same component).
    #[arg(long)]
    workflow: String,
    /// The input every run starts with (JSON).
    #[arg(long, default_value = "null")]
    input: String,
    /// The model of the world around the workflow (JSON, see docs/simulate.md): activity
    /// results and faults, signals, updates, queries, cancel requests, expected results.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The first case's seed (case i has seed + i); random if not given, and printed.
    #[arg(long)]
    seed: Option<u64>,
    /// How many cases.
    #[arg(long, default_value_t = 100)]
    cases: u64,
    /// Runs started at once in every case (drawn from 1 to 3 per case otherwise).
    #[arg(long)]
    runs: Option<u32>,
    /// Crashes and restarts per case (drawn from 0 to 3 otherwise).
    #[arg(long)]
    crashes: Option<u32>,
    /// The sticky cache of suspended instances (on or off at random otherwise).
    #[arg(long)]
    cache: Option<Switch>,
    /// Activity failures, lost attempts and delays (on in 3 cases of 4 otherwise).
    #[arg(long)]
    faults: Option<Switch>,
    /// Signals, updates, queries and cancel requests from the model (on in 3 cases of 4
    /// otherwise).
    #[arg(long)]
    messages: Option<Switch>,
    /// Run each case once instead of twice (the second run checks that the seed alone decides
    /// the outcome).
    #[arg(long)]
    no_repeat: bool,
    /// Write the histories of a failing case (shrunk) to this directory, one history file
    /// per run (`weft replay` reads them).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Keep compiled code here across invocations (a large component then loads in
    /// milliseconds).
    #[arg(long, env = "WEFT_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
}

impl Switch {
    fn on(self) -> bool {
        matches!(self, Switch::On)
    }
}

pub(crate) fn simulate(args: SimulateCmd) -> anyhow::Result<()> {
    let component = std::fs::read(&args.component)
        .with_context(|| format!("reading {}", args.component.display()))?;
    let input: serde_json::Value = serde_json::from_str(&args.input)
        .map_err(|e| super::usage(format!("--input is not JSON: {e}")))?;
    let model: SimModel = match &args.model {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| super::usage(format!("model {}: {e}", path.display())))?
        }
        None => SimModel::default(),
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let sim = Simulator::new(&args.workflow, &component, args.compile_cache.clone())?;
    let mut plan = SimPlan::new(weft::Payload::json(&input), model, seed, args.cases);
    plan.repeat = !args.no_repeat;
    plan.pins = Pins {
        runs: args.runs,
        crashes: args.crashes,
        cache: args.cache.map(Switch::on),
        faults: args.faults.map(Switch::on),
        messages: args.messages.map(Switch::on),
    };
    println!(
        "simulating {} cases of {} from seed {seed}",
        args.cases, args.workflow
    );
    let report = sim.run(&plan);
    let t = &report.tally;
    let seconds = report.elapsed.as_secs_f64().max(1e-9);
    let ends: Vec<String> = t.ends.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "{} cases in {seconds:.2} s ({:.0} cases/min): {} Workflow Tasks, {} activity attempts ({} lost), {} crashes, {} signals, {} updates, {} queries, {} cancel requests; workflows ended: {}",
        t.cases,
        t.cases as f64 * 60.0 / seconds,
        t.tasks,
        t.attempts,
        t.lost_attempts,
        t.crashes,
        t.signals,
        t.updates,
        t.queries,
        t.cancels,
        if ends.is_empty() {
            "none".into()
        } else {
            ends.join(", ")
        }
    );
    let Some(f) = report.failure else {
        println!("ok: every check held in every case");
        return Ok(());
    };
    println!("FAILED case (seed {}): {}", f.case.seed, f.problem);
    println!("  knobs: {}", f.case.flags());
    let (shrunk, problem) = &f.shrunk;
    println!("shrunk to: {}", shrunk.flags());
    println!("  {problem}");
    let mut command = format!(
        "weft simulate --component {} --workflow {} --input {}",
        quote(&args.component.display().to_string()),
        quote(&args.workflow),
        quote(&args.input)
    );
    if let Some(m) = &args.model {
        command.push_str(&format!(" --model {}", quote(&m.display().to_string())));
    }
    println!("reproduce: {command} {}", shrunk.flags());
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let files = sim
            .histories(&plan, shrunk)
            .map_err(|e| anyhow::anyhow!("reading the case's histories: {e}"))?;
        for h in &files {
            let path = dir.join(format!("{}-{}.json", h.workflow_id, h.run_id));
            std::fs::write(&path, h.to_json() + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
        println!("saved {} histories to {}", files.len(), dir.display());
    }
    std::process::exit(1);
}

/// `s` as one shell word.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

//! Deterministic simulation of a whole host around one workflow component: the store in
//! memory, a manual clock, activities answered by a model (results, failures, lost attempts,
//! delays), signals, updates, queries and cancel requests at random points, crashes and
//! restarts between commits, the sticky cache on or off, several runs at once. Everything a
//! case does is derived from its seed, so a seed reproduces its case exactly.
//!
//! After every case the checks in `checks` run: the event model's invariants, every
//! acknowledged activity completion recorded once, every history replaying to the same
//! commands on a fresh instance, no failed Workflow Task, the user's assertion, and (unless
//! turned off) the same histories when the case runs a second time. A failing case is shrunk
//! by turning its knobs down (fewer runs, no crashes, no faults, no messages, the other cache
//! mode) while it still fails; the report gives the seed and the knobs that reproduce it.
//!
//! `weft simulate` is the command; [`Simulator`] the library entry.

use crate::api::HostError;
use crate::components::Components;
use crate::history::Payload;
use crate::limits::Limits;
use crate::replay::Served;
use crate::sandbox::Sandbox;
use crate::store::RunStatus;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod checks;
mod world;

/// How the model answers one activity type's attempts.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityModel {
    /// Results to answer with (JSON), one picked at random per attempt; empty: the attempt's
    /// input comes back as its result.
    pub results: Vec<serde_json::Value>,
    /// Share of attempts that fail (retried by the activity's retry policy), 0 to 1.
    pub failure_rate: f64,
    /// Share of those failures that are not retryable.
    pub non_retryable_rate: f64,
    /// Share of attempts never answered: their worker is lost and the lease times out.
    pub timeout_rate: f64,
    /// Answers come back after 0 to this many ms of workflow time.
    pub max_delay_ms: u64,
}

/// A message the simulation may send.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    /// Signal, update or query name.
    pub name: String,
    /// Its input (JSON).
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// What the world around the workflow does: the model file of `weft simulate --model`.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimModel {
    /// Per activity type; `"*"` for every type not listed. Unlisted and no `"*"`: echo the
    /// input, with the default fault rates (see [`SimModel::activity`]).
    pub activities: BTreeMap<String, ActivityModel>,
    /// Signals sent to every run, each once, at random points (a run waiting for nothing
    /// else gets the next at once).
    pub signals: Vec<MessageSpec>,
    /// Updates, each sent to a run with probability 0.7, at a random point.
    pub updates: Vec<MessageSpec>,
    /// Queries, each sent to every run once, at a random point; a query must not change the
    /// history.
    pub queries: Vec<MessageSpec>,
    /// Whether a cancel request may be sent (to about a third of the runs).
    pub cancel: bool,
    /// Results every workflow may end with (JSON); empty: any.
    pub expect_results: Vec<serde_json::Value>,
    /// Statuses every workflow may end in (`completed`, `failed`, `canceled`, `running`...);
    /// empty: any.
    pub expect_status: Vec<String>,
}

/// The model of an activity type nobody described: echo, with some of every fault.
static DEFAULT_ACTIVITY: ActivityModel = ActivityModel {
    results: Vec::new(),
    failure_rate: 0.2,
    non_retryable_rate: 0.0,
    timeout_rate: 0.05,
    max_delay_ms: 2_000,
};

impl SimModel {
    /// The model of `activity_type`.
    pub fn activity(&self, activity_type: &str) -> &ActivityModel {
        self.activities
            .get(activity_type)
            .or_else(|| self.activities.get("*"))
            .unwrap_or(&DEFAULT_ACTIVITY)
    }
}

/// How one workflow of a case ended, for assertions.
#[derive(Clone, Debug)]
pub struct RunEnd {
    /// Its workflow id (`sim-0`, `sim-1`, ...).
    pub workflow_id: String,
    /// The status of its last run.
    pub status: RunStatus,
    /// Its result, if it completed.
    pub result: Option<serde_json::Value>,
}

/// A workflow-level assertion, checked on every workflow at the end of every case.
pub type Assertion = Arc<dyn Fn(&RunEnd) -> Result<(), String> + Send + Sync>;

/// The knobs of one case. Unpinned knobs are drawn from the case's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// The seed every choice of the case comes from.
    pub seed: u64,
    /// Runs started at once.
    pub runs: u32,
    /// Crashes (with a restart) the case may have.
    pub crashes: u32,
    /// The sticky cache is on.
    pub cache: bool,
    /// Activity faults (failures, lost attempts, delays) are on.
    pub faults: bool,
    /// Signals, updates, queries and cancel requests are sent.
    pub messages: bool,
}

impl Case {
    /// The `weft simulate` flags that run exactly this case.
    pub fn flags(&self) -> String {
        format!(
            "--seed {} --cases 1 --runs {} --crashes {} --cache {} --faults {} --messages {}",
            self.seed,
            self.runs,
            self.crashes,
            on(self.cache),
            on(self.faults),
            on(self.messages)
        )
    }
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Knobs fixed for every case (the others are drawn per case).
#[derive(Clone, Copy, Debug, Default)]
pub struct Pins {
    /// Runs per case (drawn from 1 to 3 otherwise).
    pub runs: Option<u32>,
    /// Crashes per case (0 to 3).
    pub crashes: Option<u32>,
    /// The sticky cache (on or off at random).
    pub cache: Option<bool>,
    /// Activity faults (on in 3 cases of 4).
    pub faults: Option<bool>,
    /// Messages (on in 3 cases of 4).
    pub messages: Option<bool>,
}

/// What to simulate.
#[derive(Clone)]
pub struct SimPlan {
    /// The input every run starts with.
    pub input: Payload,
    /// The world around the workflow.
    pub model: SimModel,
    /// The first case's seed; case `i` has seed `seed + i`.
    pub seed: u64,
    /// How many cases.
    pub cases: u64,
    /// Knobs fixed for every case.
    pub pins: Pins,
    /// Run every case twice and compare the histories (the same seed must give the same
    /// outcome).
    pub repeat: bool,
    /// Shrink a failing case.
    pub shrink: bool,
    /// A workflow-level assertion besides the model's `expect_*`.
    pub assert: Option<Assertion>,
}

impl SimPlan {
    /// `cases` cases from `seed` with `input` and `model`, every check on.
    pub fn new(input: Payload, model: SimModel, seed: u64, cases: u64) -> SimPlan {
        SimPlan {
            input,
            model,
            seed,
            cases,
            pins: Pins::default(),
            repeat: true,
            shrink: true,
            assert: None,
        }
    }

    /// The knobs of the case with `seed`: pinned ones as pinned, the others drawn from a
    /// generator of their own, so pinning a knob to the value it was drawn with changes
    /// nothing else.
    pub fn case(&self, seed: u64) -> Case {
        let mut r = Rng::new(seed ^ 0xCA5E_C0DE);
        let drawn = Case {
            seed,
            runs: 1 + r.below(3) as u32,
            crashes: r.below(4) as u32,
            cache: r.chance(0.5),
            faults: r.chance(0.75),
            messages: r.chance(0.75),
        };
        Case {
            seed,
            runs: self.pins.runs.unwrap_or(drawn.runs).max(1),
            crashes: self.pins.crashes.unwrap_or(drawn.crashes),
            cache: self.pins.cache.unwrap_or(drawn.cache),
            faults: self.pins.faults.unwrap_or(drawn.faults),
            messages: self.pins.messages.unwrap_or(drawn.messages),
        }
    }
}

/// Counts over the cases run.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Cases run (a repeated case counts once).
    pub cases: u64,
    /// Workflow Tasks run.
    pub tasks: u64,
    /// Activity attempts handed out.
    pub attempts: u64,
    /// Attempts the model never answered.
    pub lost_attempts: u64,
    /// Crashes and restarts.
    pub crashes: u64,
    /// Signals sent.
    pub signals: u64,
    /// Updates sent.
    pub updates: u64,
    /// Queries sent.
    pub queries: u64,
    /// Cancel requests sent.
    pub cancels: u64,
    /// Times the clock moved to the next due time.
    pub clock_moves: u64,
    /// Workflows by how they ended (`Completed`, `Failed`, ...).
    pub ends: BTreeMap<String, u64>,
}

/// A case that failed.
#[derive(Clone, Debug)]
pub struct CaseFailure {
    /// The case as drawn.
    pub case: Case,
    /// What went wrong.
    pub problem: String,
    /// The smallest case found that still fails, and its problem.
    pub shrunk: (Case, String),
}

/// What a simulation found.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Counts over the cases run.
    pub tally: Tally,
    /// The first failing case, if any (the simulation stops there).
    pub failure: Option<CaseFailure>,
    /// Wall time.
    pub elapsed: Duration,
}

/// A workflow component ready to be simulated.
pub struct Simulator {
    sandbox: Sandbox,
    components: Components,
    workflow_type: String,
    limits: Limits,
    served: Arc<Served>,
}

impl Simulator {
    /// Compiles `component` as workflow type `workflow_type` (children of the same type run
    /// the same component), keeping compiled code in `compile_cache` if given.
    pub fn new(
        workflow_type: &str,
        component: &[u8],
        compile_cache: Option<PathBuf>,
    ) -> Result<Simulator, HostError> {
        let limits = Limits::default();
        let mut sandbox =
            Sandbox::new(limits.clone()).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        if let Some(dir) = compile_cache {
            sandbox = sandbox.with_compile_cache(&dir).map_err(|e| {
                HostError::InvalidArgument(format!("compile cache {}: {e}", dir.display()))
            })?;
        }
        let compiled = sandbox.compile(workflow_type, component)?;
        let mut components = Components::default();
        components.insert(workflow_type, compiled);
        Ok(Simulator {
            sandbox,
            components,
            workflow_type: workflow_type.to_string(),
            limits,
            // Every task queue is served: the model answers every activity.
            served: Arc::new(Served {
                remote_workers: true,
                ..Served::default()
            }),
        })
    }

    /// Runs the plan's cases in order, stopping at the first that fails (then shrinking it).
    pub fn run(&self, plan: &SimPlan) -> SimReport {
        let began = Instant::now();
        let mut tally = Tally::default();
        for i in 0..plan.cases {
            let case = plan.case(plan.seed.wrapping_add(i));
            if let Some(problem) = self.run_case(plan, &case, &mut tally) {
                let shrunk = if plan.shrink {
                    self.shrink(plan, case, problem.clone())
                } else {
                    (case, problem.clone())
                };
                return SimReport {
                    tally,
                    failure: Some(CaseFailure {
                        case,
                        problem,
                        shrunk,
                    }),
                    elapsed: began.elapsed(),
                };
            }
        }
        SimReport {
            tally,
            failure: None,
            elapsed: began.elapsed(),
        }
    }

    /// Runs one case and its checks; the problem found, if any.
    pub fn run_case(&self, plan: &SimPlan, case: &Case, tally: &mut Tally) -> Option<String> {
        tally.cases += 1;
        let ended = world::run_case(self, plan, case, tally);
        let runs = match checks::collect(&ended) {
            Ok(r) => r,
            Err(e) => return Some(e),
        };
        for end in checks::ends(&ended, &runs) {
            *tally.ends.entry(format!("{:?}", end.status)).or_default() += 1;
        }
        if let Some(problem) =
            checks::check(self, plan, &ended, &runs).or_else(|| expect(plan, &ended, &runs))
        {
            return Some(problem);
        }
        if plan.repeat {
            let again = world::run_case(self, plan, case, &mut Tally::default());
            let digest = checks::collect(&again).map(|r| checks::digest(&r));
            if digest != Ok(checks::digest(&runs)) {
                return Some(
                    "the same seed gave different histories the second time (something outside the seed decides what happens)"
                        .into(),
                );
            }
        }
        None
    }

    /// The histories `case` leaves, every run of every workflow in workflow id order (each
    /// run's chain in order), as history files: to read a failing case, or replay it with
    /// `weft replay`.
    pub fn histories(
        &self,
        plan: &SimPlan,
        case: &Case,
    ) -> Result<Vec<crate::history::HistoryFile>, String> {
        let ended = world::run_case(self, plan, case, &mut Tally::default());
        Ok(checks::collect(&ended)?
            .into_iter()
            .map(|(run, rec, events)| {
                crate::history::HistoryFile::new(
                    rec.namespace.as_str(),
                    &rec.workflow_id.0,
                    &run.to_string(),
                    events,
                )
            })
            .collect())
    }

    /// The simplest variant of `case` that still fails: each knob turned down in turn, kept
    /// down when the case still fails.
    fn shrink(&self, plan: &SimPlan, case: Case, problem: String) -> (Case, String) {
        let mut best = (case, problem);
        let steps: [fn(&mut Case) -> bool; 6] = [
            |c| std::mem::replace(&mut c.runs, 1) != 1,
            |c| std::mem::replace(&mut c.crashes, 0) != 0,
            |c| std::mem::replace(&mut c.faults, false),
            |c| std::mem::replace(&mut c.messages, false),
            |c| {
                c.cache = !c.cache;
                c.cache
            },
            |c| {
                let fewer = c.runs > 2;
                if fewer {
                    c.runs -= 1;
                }
                fewer
            },
        ];
        for step in steps {
            let mut c = best.0;
            if !step(&mut c) {
                continue;
            }
            if let Some(p) = self.run_case(plan, &c, &mut Tally::default()) {
                best = (c, p);
            }
        }
        best
    }
}

/// The model's `expect_results` and `expect_status` on every workflow the case started.
fn expect(plan: &SimPlan, ended: &world::Ended, runs: &checks::Runs) -> Option<String> {
    let m = &plan.model;
    for end in checks::ends(ended, runs) {
        let status = format!("{:?}", end.status).to_lowercase();
        if !m.expect_status.is_empty()
            && !m.expect_status.iter().any(|s| s.to_lowercase() == status)
        {
            return Some(format!(
                "{} ended {status}, not one of {:?}",
                end.workflow_id, m.expect_status
            ));
        }
        if let Some(result) = &end.result
            && !m.expect_results.is_empty()
            && !m.expect_results.contains(result)
        {
            return Some(format!(
                "{} completed with {result}, not one of the expected results",
                end.workflow_id
            ));
        }
    }
    None
}

/// The simulator's choices: [`weft_core::rng::splitmix64`] from the case's seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        weft_core::rng::splitmix64(&mut self.0)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

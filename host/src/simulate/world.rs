//! One simulated case: a whole host on one thread, in memory, on a manual clock. Every step
//! picks one of the things a host could do next (run a due Workflow Task, hand out an
//! activity, report an attempt, deliver a signal, update, query or cancel request, crash and
//! restart, or move the clock to the next due time) with the case's random generator, so the
//! same case makes the same choices every time.

use super::{ActivityModel, Case, MessageSpec, Rng, SimPlan, Simulator, Tally};
use crate::clock::{Clock, ManualClock};
use crate::history::{Failure, Payload};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use crate::replay::{QueryRequest, UpdateRequest};
use crate::store::{StartQuota, Store, StoreError};
use crate::workflow_task::{
    Cache, TaskEnv, TaskOutcome, run_query, run_update_task, run_workflow_task,
};

/// The workflow time every case starts at (2026-01-01T00:00:00Z).
pub(super) const EPOCH_MS: u64 = 1_767_225_600_000;

/// What a case left behind for the checks.
pub(super) struct Ended {
    /// The database after the last step.
    pub store: Store,
    /// Activity completions the store acknowledged: each must be in its history once.
    pub acknowledged: Vec<(RunId, EventId)>,
    /// The workflow ids the case started.
    pub roots: Vec<WorkflowId>,
    /// A problem found while running (a host error, a query that changed the history, no end
    /// in sight).
    pub problem: Option<String>,
}

/// An activity attempt the model has answered, reported when the clock reaches `at_ms`.
struct Answer {
    at_ms: u64,
    run: RunId,
    sched: EventId,
    attempt: u32,
    outcome: Result<Payload, Failure>,
}

/// A message the case will send to one of its runs.
enum Outgoing {
    Signal(MessageSpec),
    Update(MessageSpec),
    Query(MessageSpec),
    Cancel,
}

enum Action {
    Task(RunId),
    Lease(String),
    Report(usize),
    Send(usize),
    Crash,
}

/// Steps after which a case is stopped as one that never ends.
const MAX_STEPS: usize = 20_000;

pub(super) fn run_case(sim: &Simulator, plan: &SimPlan, case: &Case, tally: &mut Tally) -> Ended {
    crate::ids::with_seeded_ids(case.seed, || World::new(sim, plan, case, tally).run())
}

struct World<'a> {
    sim: &'a Simulator,
    plan: &'a SimPlan,
    case: &'a Case,
    tally: &'a mut Tally,
    rng: Rng,
    clock: ManualClock,
    store: Store,
    cache: Option<Cache>,
    answers: Vec<Answer>,
    outgoing: Vec<(WorkflowId, Outgoing)>,
    crashes_left: u32,
    acknowledged: Vec<(RunId, EventId)>,
    roots: Vec<WorkflowId>,
}

impl<'a> World<'a> {
    fn new(sim: &'a Simulator, plan: &'a SimPlan, case: &'a Case, tally: &'a mut Tally) -> Self {
        let store = Store::in_memory(EPOCH_MS).expect("an in-memory database opens");
        World {
            sim,
            plan,
            case,
            tally,
            rng: Rng::new(case.seed ^ 0x05EE_D0F5_C4ED),
            clock: ManualClock::new(EPOCH_MS),
            store,
            cache: case.cache.then(new_cache),
            answers: Vec::new(),
            outgoing: Vec::new(),
            crashes_left: case.crashes,
            acknowledged: Vec::new(),
            roots: Vec::new(),
        }
    }

    fn run(mut self) -> Ended {
        let problem = self.start().and_then(|()| self.steps()).err();
        Ended {
            store: self.store,
            acknowledged: self.acknowledged,
            roots: self.roots,
            problem,
        }
    }

    /// Starts the case's runs and plans the messages each will get.
    fn start(&mut self) -> Result<(), String> {
        for i in 0..self.case.runs {
            let id = WorkflowId(format!("sim-{i}"));
            let seed = self.rng.next();
            self.store
                .start_workflow(
                    &Namespace::default_namespace(),
                    &id,
                    &self.sim.workflow_type,
                    self.plan.input.clone(),
                    seed,
                    self.clock.now_ms(),
                    StartQuota::UNLIMITED,
                    None,
                )
                .map_err(|e| format!("starting {id}: {e}"))?;
            self.roots.push(id.clone());
            if self.case.messages {
                let m = &self.plan.model;
                let mut planned: Vec<Outgoing> = Vec::new();
                planned.extend(m.signals.iter().cloned().map(Outgoing::Signal));
                for u in &m.updates {
                    if self.rng.chance(0.7) {
                        planned.push(Outgoing::Update(u.clone()));
                    }
                }
                for q in &m.queries {
                    planned.push(Outgoing::Query(q.clone()));
                }
                if m.cancel && self.rng.chance(0.3) {
                    planned.push(Outgoing::Cancel);
                }
                self.outgoing
                    .extend(planned.into_iter().map(|o| (id.clone(), o)));
            }
        }
        Ok(())
    }

    fn steps(&mut self) -> Result<(), String> {
        for _ in 0..MAX_STEPS {
            let now = self.clock.now_ms();
            let mut actions = Vec::new();
            for (run, _) in self
                .store
                .due_workflow_tasks(now, 64, |_, _| false)
                .map_err(db)?
            {
                actions.push((Action::Task(run), 8));
            }
            for q in self.store.activity_queues().map_err(db)? {
                if q.first_due_ms <= now {
                    actions.push((Action::Lease(q.queue_key), 6));
                }
            }
            for (i, a) in self.answers.iter().enumerate() {
                if a.at_ms <= now {
                    actions.push((Action::Report(i), 6));
                }
            }
            for i in 0..self.outgoing.len() {
                actions.push((Action::Send(i), 1));
            }
            if self.crashes_left > 0 {
                actions.push((Action::Crash, 1));
            }
            // Signals are sent only while the case has something else to do; when it has
            // nothing, one that a run may be waiting for goes first (below).
            let only_messages = actions
                .iter()
                .all(|(a, _)| matches!(a, Action::Send(_) | Action::Crash));
            if only_messages {
                if self.advance()? {
                    continue;
                }
                if self.outgoing.is_empty() {
                    return Ok(());
                }
            }
            let total: u64 = actions.iter().map(|(_, w)| *w).sum();
            let mut pick = self.rng.below(total);
            let action = actions
                .into_iter()
                .find(|(_, w)| {
                    if pick < *w {
                        return true;
                    }
                    pick -= w;
                    false
                })
                .map(|(a, _)| a)
                .expect("a pick below the total weight finds an action");
            self.act(action)?;
        }
        Err(format!(
            "the case did not end within {MAX_STEPS} steps (a workflow that never stops, or timers that keep firing)"
        ))
    }

    /// Moves the clock to the next due time and fires what is due; false if nothing is due
    /// ever again.
    fn advance(&mut self) -> Result<bool, String> {
        let [task, _, timer, _] = self.store.next_due("").map_err(db)?;
        let queue = self
            .store
            .activity_queues()
            .map_err(db)?
            .into_iter()
            .map(|q| q.first_due_ms)
            .min();
        let answer = self.answers.iter().map(|a| a.at_ms).min();
        let Some(next) = [task, timer, queue, answer].into_iter().flatten().min() else {
            return Ok(false);
        };
        let now = self.clock.now_ms().max(next);
        self.clock.set(now);
        self.tally.clock_moves += 1;
        self.store.fire_timers(now).map_err(db)?;
        Ok(true)
    }

    fn act(&mut self, action: Action) -> Result<(), String> {
        let now = self.clock.now_ms();
        match action {
            Action::Task(run) => {
                self.tally.tasks += 1;
                let outcome = self
                    .with_env(|env| run_workflow_task(env, run))
                    .map_err(|e| format!("Workflow Task of {run}: {e}"))?;
                // A failed task would be retried with backoff until the code is fixed: the
                // case stops at the first.
                if let TaskOutcome::Failed { cause, message } = outcome {
                    return Err(self.at(
                        run,
                        format!("a Workflow Task failed ({cause:?}): {message}"),
                    ));
                }
            }
            Action::Lease(queue) => {
                let (leased, _) = self.store.lease_activities(&queue, now, 1).map_err(db)?;
                for a in leased {
                    self.tally.attempts += 1;
                    let model = self.plan.model.activity(&a.task.activity_type);
                    if let Some(answer) = self.answer(model, &a.task.input, now) {
                        self.answers.push(Answer {
                            at_ms: answer.0,
                            run: a.run,
                            sched: a.scheduled_event_id,
                            attempt: a.task.attempt,
                            outcome: answer.1,
                        });
                    } else {
                        self.tally.lost_attempts += 1;
                    }
                }
            }
            Action::Report(i) => {
                let a = self.answers.swap_remove(i);
                let ok = a.outcome.is_ok();
                let fx = self
                    .store
                    .report_activity(a.run, a.sched, a.attempt, a.outcome, now)
                    .map_err(db)?;
                if ok && fx.is_some() {
                    self.acknowledged.push((a.run, a.sched));
                }
            }
            Action::Send(i) => {
                let (id, message) = self.outgoing.swap_remove(i);
                self.send(&id, message)?;
            }
            Action::Crash => {
                self.crashes_left -= 1;
                self.tally.crashes += 1;
                // Everything in memory is gone: suspended instances, attempts under way.
                self.cache = self.case.cache.then(new_cache);
                self.answers.clear();
                self.clock.advance(1 + self.rng.below(1_000));
                let now = self.clock.now_ms();
                self.store = self.store.reopen(now).map_err(db)?;
            }
        }
        Ok(())
    }

    /// What the model does with an attempt: `None` if it is never answered (its lease
    /// expires), else when and with what.
    fn answer(
        &mut self,
        model: &ActivityModel,
        input: &Payload,
        now: u64,
    ) -> Option<(u64, Result<Payload, Failure>)> {
        let faults = self.case.faults;
        if faults && self.rng.chance(model.timeout_rate) {
            return None;
        }
        let delay = if faults && model.max_delay_ms > 0 {
            self.rng.below(model.max_delay_ms + 1)
        } else {
            0
        };
        let outcome = if faults && self.rng.chance(model.failure_rate) {
            let f = Failure::new(
                "SimulatedFailure",
                "the simulation's activity model failed this attempt",
            );
            if self.rng.chance(model.non_retryable_rate) {
                Err(f.non_retryable())
            } else {
                Err(f)
            }
        } else if model.results.is_empty() {
            Ok(input.clone())
        } else {
            let i = self.rng.below(model.results.len() as u64) as usize;
            Ok(Payload::json(&model.results[i]))
        };
        Some((now + delay, outcome))
    }

    fn send(&mut self, id: &WorkflowId, message: Outgoing) -> Result<(), String> {
        let now = self.clock.now_ms();
        let Some((run, rec)) = self
            .store
            .current_run(&Namespace::default_namespace(), id)
            .ok()
        else {
            return Ok(());
        };
        if rec.status.is_closed() {
            return Ok(());
        }
        match message {
            Outgoing::Signal(m) => {
                self.tally.signals += 1;
                match self
                    .store
                    .signal(run, &m.name, Payload::json(&m.payload), now)
                {
                    Ok(()) | Err(StoreError::NotRunning(..)) => {}
                    Err(e) => return Err(db(e)),
                }
            }
            Outgoing::Cancel => {
                self.tally.cancels += 1;
                self.store
                    .request_cancel(run, "the simulation asked to cancel", now)
                    .map_err(db)?;
            }
            Outgoing::Update(m) => {
                self.tally.updates += 1;
                let update = UpdateRequest {
                    id: format!("sim-update-{}", self.rng.next()),
                    name: m.name.clone(),
                    input: Payload::json(&m.payload),
                };
                let (outcome, _) = self
                    .with_env(|env| run_update_task(env, run, update))
                    .map_err(|e| format!("update {} of {run}: {e}", m.name))?;
                if let TaskOutcome::Failed { cause, message } = outcome {
                    return Err(self.at(
                        run,
                        format!(
                            "the Workflow Task of update {} failed ({cause:?}): {message}",
                            m.name
                        ),
                    ));
                }
            }
            Outgoing::Query(m) => {
                self.tally.queries += 1;
                let before = rec.next_event_id;
                let query = QueryRequest {
                    name: m.name.clone(),
                    input: Payload::json(&m.payload),
                };
                // The answer, or the workflow's refusal, is the workflow's business; only
                // a change to the history is a problem.
                let _answer = self
                    .with_env(|env| run_query(env, run, query))
                    .map_err(|e| format!("query {} of {run}: {e}", m.name))?;
                let after = self.store.run(run).map_err(db)?.next_event_id;
                if after != before {
                    return Err(format!(
                        "query {} of {run} changed its history (next event {before} before, {after} after)",
                        m.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// `what` about `run`, naming its workflow.
    fn at(&self, run: RunId, what: String) -> String {
        match self.store.run(run) {
            Ok(rec) => format!("{} (run {run}): {what}", rec.workflow_id),
            Err(_) => format!("run {run}: {what}"),
        }
    }

    fn with_env<T>(&self, f: impl FnOnce(&TaskEnv<'_>) -> T) -> T {
        f(&TaskEnv {
            store: &self.store,
            sandbox: &self.sim.sandbox,
            components: &self.sim.components,
            pins: false,
            limits: &self.sim.limits,
            served: &self.sim.served,
            cache: self.cache.as_ref(),
            probe: None,
            clock: &self.clock,
            eager: None,
        })
    }
}

fn new_cache() -> Cache {
    Cache::new(256, 4 << 30)
}

fn db(e: StoreError) -> String {
    format!("database: {e}")
}

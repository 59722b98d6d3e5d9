//! What must hold after every simulated case: the event model's invariants in every history,
//! every acknowledged activity completion recorded once, every history replaying to the same
//! commands on a fresh instance, no Workflow Task failed, and the user's assertions.

use super::world::Ended;
use super::{RunEnd, SimPlan, Simulator};
use crate::history::{Event, EventKind};
use crate::ids::{EventId, Namespace, RunId};
use crate::store::{RunRecord, RunStatus};
use crate::workflow_task::{check_open_run, verify_replay};
use std::collections::{BTreeMap, HashMap};

/// Every run of the case, in (workflow id, run chain) order, with its record and history.
pub(super) type Runs = Vec<(RunId, RunRecord, Vec<Event>)>;

/// Reads every run the case created: each workflow's current run and the runs it continued.
pub(super) fn collect(ended: &Ended) -> Result<Runs, String> {
    let store = &ended.store;
    let mut out = Vec::new();
    let current = store
        .list(&Namespace::default_namespace())
        .map_err(|e| format!("database: {e}"))?;
    for (_, last, _) in current {
        let mut chain = Vec::new();
        let mut next = Some(last);
        while let Some(run) = next {
            let (rec, history) = store.load_run(run).map_err(|e| format!("database: {e}"))?;
            next = rec.previous_run;
            chain.push((run, rec, history));
        }
        chain.reverse();
        out.extend(chain);
    }
    Ok(out)
}

/// The first problem of the case, if any.
pub(super) fn check(sim: &Simulator, plan: &SimPlan, ended: &Ended, runs: &Runs) -> Option<String> {
    if let Some(p) = &ended.problem {
        return Some(p.clone());
    }
    for (run, rec, history) in runs {
        let at = |what: String| Some(format!("{} (run {run}): {what}", rec.workflow_id));
        if let Err(e) = invariants(rec, history) {
            return at(e);
        }
        if let Some(failed) = history.iter().find_map(|e| match &e.kind {
            EventKind::WorkflowTaskFailed { cause, message, .. } => Some(format!(
                "event {}: Workflow Task failed ({cause:?}): {message}",
                e.id.0
            )),
            _ => None,
        }) {
            return at(failed);
        }
        if let Err(e) = replays(sim, *run, rec, history) {
            return at(format!(
                "its history does not replay to the same commands on a fresh instance: {e}"
            ));
        }
    }
    let by_run: HashMap<RunId, &Vec<Event>> = runs.iter().map(|(r, _, h)| (*r, h)).collect();
    for (run, sched) in &ended.acknowledged {
        let n = by_run.get(run).map_or(0, |h| {
            h.iter()
                .filter(|e| {
                    matches!(&e.kind, EventKind::ActivityTaskCompleted { scheduled_event_id, .. }
                        if scheduled_event_id == sched)
                })
                .count()
        });
        if n != 1 {
            return Some(format!(
                "run {run}: the completion of the activity scheduled at event {} was acknowledged, and its history has it {n} times",
                sched.0
            ));
        }
    }
    if let Some(assert) = &plan.assert {
        for end in ends(ended, runs) {
            if let Err(e) = assert(&end) {
                return Some(format!("{}: assertion failed: {e}", end.workflow_id));
            }
        }
    }
    None
}

/// How each workflow the case started ended (its last run).
pub(super) fn ends(ended: &Ended, runs: &Runs) -> Vec<RunEnd> {
    ended
        .roots
        .iter()
        .filter_map(|id| {
            let (_, rec, history) = runs
                .iter()
                .rev()
                .find(|(_, rec, _)| &rec.workflow_id == id)?;
            Some(RunEnd {
                workflow_id: id.0.clone(),
                status: rec.status,
                result: history.iter().rev().find_map(|e| match &e.kind {
                    EventKind::WorkflowExecutionCompleted { result } => Some(result.to_json()),
                    _ => None,
                }),
            })
        })
        .collect()
}

/// A digest of every history of the case, to compare two runs of the same case.
pub(super) fn digest(runs: &Runs) -> u64 {
    // FNV-1a over the encoded events: stable across processes, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (run, _, history) in runs {
        for b in run.0.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        for e in history {
            for b in crate::history::encode(e) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    h
}

fn replays(sim: &Simulator, run: RunId, rec: &RunRecord, history: &[Event]) -> Result<(), String> {
    let compiled = sim
        .components
        .newest(&rec.workflow_type)
        .ok_or_else(|| format!("no component for workflow type '{}'", rec.workflow_type))?;
    let (sandbox, limits, served) = (&sim.sandbox, &sim.limits, &sim.served);
    match rec.status {
        // Open, or ended by the host rather than by the code: nothing to compare at the end.
        RunStatus::Running | RunStatus::Terminated | RunStatus::TimedOut => {
            check_open_run(sandbox, compiled, limits, served, run, rec, history)
        }
        _ => verify_replay(
            sandbox,
            compiled,
            limits,
            served,
            run,
            rec.workflow_id.clone(),
            history,
        ),
    }
}

/// The event model's invariants on one history.
fn invariants(rec: &RunRecord, history: &[Event]) -> Result<(), String> {
    for (i, e) in history.iter().enumerate() {
        if e.id.0 != i as u64 + 1 {
            return Err(format!(
                "event ids are not contiguous: event {} at position {}",
                e.id.0,
                i + 1
            ));
        }
    }
    if rec.next_event_id != history.len() as u64 + 1 {
        return Err(format!(
            "the run's next event id is {}, and its history has {} events",
            rec.next_event_id,
            history.len()
        ));
    }
    match history.first().map(|e| &e.kind) {
        Some(EventKind::WorkflowExecutionStarted { .. }) => {}
        _ => return Err("the history does not start with WorkflowExecutionStarted".into()),
    }
    let close = history.iter().position(|e| is_close(&e.kind));
    if let Some(c) = close
        && c + 1 != history.len()
    {
        return Err(format!(
            "event {} ({}) comes after the run closed at event {}",
            history[c + 1].id.0,
            history[c + 1].kind.name(),
            history[c].id.0
        ));
    }
    if close.is_some() != rec.status.is_closed() {
        return Err(format!(
            "the run's status is {:?}, and its history {} a close event",
            rec.status,
            if close.is_some() { "has" } else { "has no" }
        ));
    }
    let mut ended: BTreeMap<u64, &'static str> = BTreeMap::new();
    for e in history {
        let Some((target, allowed, fin)) = reference(&e.kind) else {
            continue;
        };
        let ok = target.0 >= 1
            && target.0 < e.id.0
            && allowed.contains(&history[target.0 as usize - 1].kind.name());
        if !ok {
            return Err(format!(
                "event {} ({}) refers to event {}, which is not one of {allowed:?} before it",
                e.id.0,
                e.kind.name(),
                target.0
            ));
        }
        if fin && let Some(first) = ended.insert(target.0, e.kind.name()) {
            return Err(format!(
                "event {} ends {} a second time (it already ended with {first})",
                e.id.0, target.0
            ));
        }
    }
    Ok(())
}

fn is_close(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::WorkflowExecutionCompleted { .. }
            | EventKind::WorkflowExecutionFailed { .. }
            | EventKind::WorkflowExecutionCanceled { .. }
            | EventKind::WorkflowExecutionTerminated { .. }
            | EventKind::WorkflowExecutionTimedOut { .. }
            | EventKind::WorkflowExecutionContinuedAsNew { .. }
    )
}

/// The event an event refers to, the kinds it may be, and whether the event ends it (at most
/// one event may end each scheduled activity, timer, child or Nexus operation).
fn reference(kind: &EventKind) -> Option<(EventId, &'static [&'static str], bool)> {
    const ACTIVITY: &[&str] = &["ActivityTaskScheduled"];
    const TIMER: &[&str] = &["TimerStarted"];
    const CHILD: &[&str] = &["StartChildWorkflowExecutionInitiated"];
    const NEXUS: &[&str] = &["NexusOperationScheduled"];
    use EventKind as K;
    Some(match kind {
        K::WorkflowTaskStarted {
            scheduled_event_id, ..
        } => (*scheduled_event_id, &["WorkflowTaskScheduled"], true),
        K::WorkflowTaskCompleted {
            started_event_id, ..
        }
        | K::WorkflowTaskFailed {
            started_event_id, ..
        } => (*started_event_id, &["WorkflowTaskStarted"], true),
        K::ActivityTaskStarted {
            scheduled_event_id, ..
        }
        | K::ActivityTaskCancelRequested {
            scheduled_event_id, ..
        } => (*scheduled_event_id, ACTIVITY, false),
        K::ActivityTaskCompleted {
            scheduled_event_id, ..
        }
        | K::ActivityTaskFailed {
            scheduled_event_id, ..
        }
        | K::ActivityTaskTimedOut {
            scheduled_event_id, ..
        }
        | K::ActivityTaskCanceled {
            scheduled_event_id, ..
        } => (*scheduled_event_id, ACTIVITY, true),
        K::TimerFired {
            started_event_id, ..
        }
        | K::TimerCanceled {
            started_event_id, ..
        } => (*started_event_id, TIMER, true),
        K::ChildWorkflowExecutionStarted {
            initiated_event_id, ..
        } => (*initiated_event_id, CHILD, false),
        K::StartChildWorkflowExecutionFailed {
            initiated_event_id, ..
        }
        | K::ChildWorkflowExecutionCompleted {
            initiated_event_id, ..
        }
        | K::ChildWorkflowExecutionFailed {
            initiated_event_id, ..
        }
        | K::ChildWorkflowExecutionCanceled {
            initiated_event_id, ..
        }
        | K::ChildWorkflowExecutionTerminated {
            initiated_event_id, ..
        }
        | K::ChildWorkflowExecutionTimedOut {
            initiated_event_id, ..
        } => (*initiated_event_id, CHILD, true),
        K::NexusOperationStarted {
            scheduled_event_id, ..
        }
        | K::NexusOperationCancelRequested {
            scheduled_event_id, ..
        } => (*scheduled_event_id, NEXUS, false),
        K::NexusOperationCompleted {
            scheduled_event_id, ..
        }
        | K::NexusOperationFailed {
            scheduled_event_id, ..
        }
        | K::NexusOperationCanceled {
            scheduled_event_id, ..
        }
        | K::NexusOperationTimedOut {
            scheduled_event_id, ..
        } => (*scheduled_event_id, NEXUS, true),
        _ => return None,
    })
}

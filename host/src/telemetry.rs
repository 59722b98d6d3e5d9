//! The host's metrics, named in one place. They go to whatever `metrics` recorder the embedding
//! program installed (`weft server` installs a Prometheus one and serves it at `/metrics`);
//! without one they cost next to nothing. The store records `weft_commit_seconds` (each write
//! transaction's commit, including its sync to disk).

use crate::ids::Namespace;
use std::time::Duration;

/// A Workflow Task ended with `outcome` (`completed`, `failed`, `conflict`, `terminated`,
/// `skipped` or `error`) after `took` (load, replay or resume, and commit).
pub(crate) fn workflow_task(ns: &Namespace, outcome: &'static str, took: Duration) {
    let ns = ns.to_string();
    metrics::counter!("weft_workflow_tasks_total", "namespace" => ns.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("weft_workflow_task_seconds", "namespace" => ns, "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// The guest code of a Workflow Task ran for `took`: through the sticky cache (a suspended
/// instance resumed, or a replay that stays cached) or replayed on a fresh instance.
pub(crate) fn guest_ran(ns: &Namespace, cached: bool, took: Duration) {
    let how = if cached { "sticky" } else { "replayed" };
    metrics::histogram!("weft_workflow_task_guest_seconds", "namespace" => ns.to_string(), "how" => how)
        .record(took.as_secs_f64());
}

/// An activity attempt ended with `outcome` (`completed`, `canceled`, `failed` or the timeout's
/// error type) after `took` (known for attempts run in-process); `remote` when a remote worker
/// ran it.
pub(crate) fn activity_attempt(
    ns: &Namespace,
    outcome: &str,
    remote: bool,
    took: Option<Duration>,
) {
    let (ns, outcome) = (ns.to_string(), outcome.to_string());
    let worker = if remote { "remote" } else { "local" };
    metrics::counter!("weft_activity_attempts_total", "namespace" => ns.clone(), "outcome" => outcome.clone(), "worker" => worker)
        .increment(1);
    if let Some(took) = took {
        metrics::histogram!("weft_activity_attempt_seconds", "namespace" => ns, "outcome" => outcome)
            .record(took.as_secs_f64());
    }
}

/// Due timers were fired `late` after the earliest of them was due.
pub(crate) fn timers_fired(late: Duration) {
    metrics::counter!("weft_timer_firings_total").increment(1);
    metrics::histogram!("weft_timer_lateness_seconds").record(late.as_secs_f64());
}

/// A start in `ns` was refused by a quota.
pub(crate) fn quota_refused(ns: &Namespace) {
    metrics::counter!("weft_quota_refusals_total", "namespace" => ns.to_string()).increment(1);
}

/// The label of an attempt's outcome.
pub(crate) fn attempt_outcome(
    outcome: &Result<crate::history::Payload, crate::history::Failure>,
) -> &str {
    match outcome {
        Ok(_) => "completed",
        Err(f) if f.error_type == "Canceled" => "canceled",
        Err(f) if f.error_type.ends_with("Timeout") => f.error_type.as_str(),
        Err(_) => "failed",
    }
}

//! A normal task through the sticky cache: resume the run's suspended instance, or replay on a
//! new one that stays suspended for the next task.

use super::*;

/// Runs a normal task through the sticky cache: resumes the run's cached instance if it can
/// continue on the history, handing it the events it has not seen, otherwise replays from the
/// start on a new instance that stays suspended for the next task. `history` holds the events
/// after event `after` (all of them when `after` is 0). Returns the instance when it
/// suspended.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_cached(
    env: &TaskEnv<'_>,
    cache: &Cache,
    compiled: &CompiledWorkflow,
    run: RunId,
    rec: &RunRecord,
    history: Vec<Event>,
    after: u64,
    attempt: u32,
    started_ms: u64,
) -> Result<(GuestOutcome, Option<Worker<GuestOutcome>>), StoreError> {
    if let Some(w) = cache.take(run)
        && w.compiled_id == compiled.id()
        && after <= w.seen
    {
        // Only the events the instance has not seen are copied; the history stays here for
        // a replay from the start should the instance be stale.
        let skip = ((w.seen - after) as usize).min(history.len());
        let tail: Arc<[Event]> = history[skip..].into();
        let known_next = w.known_next;
        match reported(w.resume(Resume::Continue {
            tail,
            attempt,
            started_ms,
            known_next,
        })) {
            (GuestOutcome::Stale, _) => {}
            other => return Ok(other),
        }
    }
    let history = whole_history(env.store, run, after, history)?;
    let limit = task_time_limit(env.limits, rec);
    let link = StickyLink::new();
    let replay = prepare(env, run, rec, &history, attempt, started_ms).with_sticky(link.clone());
    let mut store = env.sandbox.sticky_store(replay, limit);
    let memory = store.data().memory();
    let input = start_input(&history);
    let compiled2 = compiled.clone();
    let code: sticky::Run<GuestOutcome> = Box::pin(async move {
        let result = compiled2.run_async(&mut store, &input.0).await;
        guest_outcome(&mut store.data_mut().replay, result, limit)
    });
    Ok(reported(
        Worker::new(code, link, compiled.id(), memory).advance(),
    ))
}

/// What a task makes of how its instance stopped: suspended (the instance is returned for
/// the cache) or finished. The instance runs on the task's own thread, so the watchdog gives
/// up on a stuck one as on any task.
fn reported(
    (report, w): (Report<GuestOutcome>, Option<Worker<GuestOutcome>>),
) -> (GuestOutcome, Option<Worker<GuestOutcome>>) {
    match report {
        Report::Suspended(commands) => (GuestOutcome::Commands(commands), w),
        Report::Done(outcome) => (outcome, None),
        Report::Stalled => (
            GuestOutcome::Failed(
                WorkflowTaskFailedCause::GuestTrap,
                "the workflow's instance stopped without finishing or waiting on its history"
                    .into(),
            ),
            None,
        ),
    }
}

//! Queries: the state of the code at the end of its last completed Workflow Task, answered
//! by a replay that records nothing.

use super::*;

/// Answers `query` from the state `run`'s code had at the end of its last completed Workflow
/// Task (events no task has processed yet, such as a signal just recorded, are not seen, as in
/// Temporal). Nothing is recorded. Works on closed runs when the workflow's SDK serves queries
/// after the workflow function returned.
pub fn run_query(
    env: &TaskEnv<'_>,
    run: RunId,
    query: QueryRequest,
) -> Result<Result<Result<Payload, Failure>, String>, StoreError> {
    let (rec, history) = env.store.load_run(run)?;
    let Some(compiled) = env.component_for(run, &rec, env.store.component_of(run)?)? else {
        return Ok(Err(format!(
            "workflow type '{}' is not registered in namespace {} on this host",
            rec.workflow_type, rec.namespace
        )));
    };
    Ok(query_history(
        env.sandbox,
        compiled,
        env.limits,
        env.served,
        run,
        &rec,
        &history,
        query,
    ))
}

/// [`run_query`] on a history already read (the `weft query` command reads it while a host
/// may hold the file).
#[allow(clippy::too_many_arguments)]
pub fn query_history(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
    rec: &RunRecord,
    history: &[Event],
    query: QueryRequest,
) -> Result<Result<Payload, Failure>, String> {
    // The state of the last completed Workflow Task, not of events no task has processed.
    let (upto, task_ms) = processed_by_tasks(history);
    let history = &history[..upto];
    let replay = Replay::new(
        run,
        rec.workflow_id.clone(),
        history,
        1,
        task_ms.unwrap_or_else(now_ms),
        limits.clone(),
        served.clone(),
    )
    .with_info(run_info(rec))
    .with_extra(Extra::Query(query));
    let limit = task_time_limit(limits, rec);
    match execute(sandbox, compiled, replay, &start_input(history), limit) {
        GuestOutcome::Query(answer) => Ok(answer),
        GuestOutcome::Failed(cause, message) => Err(format!("{cause:?}: {message}")),
        GuestOutcome::Terminate(reason) => Err(reason),
        GuestOutcome::Commands(_) => Err(
            "the workflow returned without answering the query (its SDK does not answer queries once the workflow function returned)".into(),
        ),
        GuestOutcome::Stale => Err("internal: a query ran on a cached instance".into()),
    }
}

/// How many events of `history` the code has processed: everything through the last completed
/// Workflow Task and the commands it recorded (as Temporal answers a query from the state of
/// the last completed task), and the start time of that task. Before any task completed, the
/// events before the first task.
pub(super) fn processed_by_tasks(history: &[Event]) -> (usize, Option<u64>) {
    let Some(done) = history
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
    else {
        let first = history
            .iter()
            .position(|e| matches!(e.kind, EventKind::WorkflowTaskScheduled { .. }))
            .unwrap_or(history.len());
        return (first, None);
    };
    let started_ms = done.checked_sub(1).map(|i| history[i].time_ms);
    // The events the task's commit recorded from its commands follow it.
    let recorded_by_task = |k: &EventKind| {
        matches!(
            k,
            EventKind::ActivityTaskScheduled { .. }
                | EventKind::TimerStarted { .. }
                | EventKind::ActivityTaskCancelRequested { .. }
                | EventKind::TimerCanceled { .. }
                | EventKind::NexusOperationScheduled { .. }
                | EventKind::NexusOperationCancelRequested { .. }
                | EventKind::MarkerRecorded { .. }
                | EventKind::StartChildWorkflowExecutionInitiated { .. }
                | EventKind::RequestCancelExternalWorkflowExecutionInitiated { .. }
                | EventKind::SignalExternalWorkflowExecutionInitiated { .. }
                | EventKind::WorkflowExecutionUpdateAccepted { .. }
                | EventKind::WorkflowExecutionUpdateCompleted { .. }
                | EventKind::WorkflowExecutionCompleted { .. }
                | EventKind::WorkflowExecutionFailed { .. }
                | EventKind::WorkflowExecutionCanceled { .. }
                | EventKind::WorkflowExecutionContinuedAsNew { .. }
        )
    };
    let end = history[done + 1..]
        .iter()
        .position(|e| !recorded_by_task(&e.kind))
        .map_or(history.len(), |n| done + 1 + n);
    (end, started_ms)
}

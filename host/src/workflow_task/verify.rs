//! `verify_replay`: a run's history replayed against a component: a closed run must reach the
//! same final commands and result, an open one must replay through its last completed task.

use super::*;
use crate::ids::{EventId, WorkflowId};

/// Replays the complete history of a closed run against `compiled` and checks that the code
/// reaches the same end: the same commands and the same result or failure. An open run's
/// history (or one the host terminated) must replay through its last completed Workflow Task
/// without diverging. This is how a new build of a workflow is checked against recorded
/// histories before it is deployed.
pub fn verify_replay(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
    workflow_id: WorkflowId,
    history: &[Event],
) -> Result<(), String> {
    let input = match history.first().map(|e| &e.kind) {
        Some(EventKind::WorkflowExecutionStarted { input, .. }) => input.clone(),
        _ => return Err("the history does not start with WorkflowExecutionStarted".into()),
    };
    let expected = history.iter().rev().find_map(|e| match &e.kind {
        EventKind::WorkflowExecutionCompleted { result } => Some(Command::CompleteWorkflow {
            result: result.clone(),
        }),
        EventKind::WorkflowExecutionFailed { failure } => Some(Command::FailWorkflow {
            failure: failure.clone(),
        }),
        EventKind::WorkflowExecutionCanceled { details } => Some(Command::CancelWorkflow {
            details: details.clone(),
        }),
        EventKind::WorkflowExecutionContinuedAsNew { input, .. } => Some(Command::ContinueAsNew {
            input: input.clone(),
        }),
        _ => None,
    });
    let Some(expected) = expected else {
        // An open run (or one the host ended): through its last completed task. Its record
        // is not at hand, so `info` reports defaults, as for a closed run below.
        let open = OpenRun {
            run,
            workflow_id,
            info: RunInfo::default(),
            time_limit: limits.max_task_time,
        };
        return replay_processed(sandbox, compiled, limits, served, open, history, input);
    };
    // The closing task's commands are in the history; replay everything before them.
    let close_task = history
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }))
        .ok_or("the history has no completed Workflow Task")?;
    let started_ms = history[close_task - 1].time_ms;
    let replay = Replay::new(
        run,
        workflow_id,
        &history[..close_task - 1],
        1,
        started_ms,
        limits.clone(),
        served.clone(),
    );
    match execute(sandbox, compiled, replay, &input, limits.max_task_time) {
        GuestOutcome::Query(_) | GuestOutcome::Stale => {
            Err("the replay answered a query instead of running".into())
        }
        GuestOutcome::Failed(cause, message) => Err(format!("{cause:?}: {message}")),
        GuestOutcome::Terminate(reason) => Err(reason),
        GuestOutcome::Commands(commands) => {
            let recorded: Vec<String> = history[close_task + 1..]
                .iter()
                .filter_map(|e| recorded_signature(&e.kind, &expected))
                .collect();
            let commands: Vec<String> = commands.iter().map(signature).collect();
            if commands == recorded {
                Ok(())
            } else {
                Err(format!(
                    "replay produced different final commands.\n recorded: {recorded:?}\n replayed: {commands:?}"
                ))
            }
        }
    }
}

/// A command in a form that compares equal between a recorded and a replayed task: full
/// attributes, except that cancel requests are compared by kind (their target is an event id
/// in one and a command index in the other).
pub(super) fn signature(cmd: &Command) -> String {
    match cmd {
        Command::RequestCancelActivity { .. }
        | Command::CancelTimer { .. }
        | Command::RequestCancelNexusOperation { .. }
        | Command::RequestCancelChild { .. } => describe_command(cmd),
        // The recorded event keeps only the target's workflow id.
        Command::RequestCancelExternal { .. } => describe_command(cmd),
        other => format!("{other:?}"),
    }
}

/// The signature of the command a closing task recorded as event `kind` (none for events
/// that are not commands). Long but flat: one arm per command event kind.
fn recorded_signature(kind: &EventKind, expected: &Command) -> Option<String> {
    match kind {
        EventKind::ActivityTaskScheduled {
            activity_type,
            input,
            start_to_close_timeout_ms,
            retry_policy,
            schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms,
            heartbeat_timeout_ms,
            task_queue,
        } => Some(signature(&Command::ScheduleActivity {
            activity_type: activity_type.clone(),
            input: input.clone(),
            start_to_close_timeout_ms: *start_to_close_timeout_ms,
            retry_policy: retry_policy.clone(),
            schedule_to_close_timeout_ms: *schedule_to_close_timeout_ms,
            schedule_to_start_timeout_ms: *schedule_to_start_timeout_ms,
            heartbeat_timeout_ms: *heartbeat_timeout_ms,
            task_queue: task_queue.clone(),
        })),
        EventKind::TimerStarted { duration_ms, .. } => Some(signature(&Command::StartTimer {
            duration_ms: *duration_ms,
        })),
        EventKind::NexusOperationScheduled {
            endpoint,
            service,
            operation,
            input,
            schedule_to_close_timeout_ms,
            ..
        } => Some(signature(&Command::ScheduleNexusOperation {
            endpoint: endpoint.clone(),
            service: service.clone(),
            operation: operation.clone(),
            input: input.clone(),
            schedule_to_close_timeout_ms: *schedule_to_close_timeout_ms,
        })),
        EventKind::ActivityTaskCancelRequested { .. } => Some("RequestCancelActivityTask".into()),
        EventKind::TimerCanceled { .. } => Some("CancelTimer".into()),
        EventKind::NexusOperationCancelRequested { .. } => {
            Some("RequestCancelNexusOperation".into())
        }
        EventKind::RequestCancelExternalWorkflowExecutionInitiated {
            initiated_event_id: EventId(0),
            workflow_id,
            ..
        } => Some(signature(&Command::RequestCancelExternal {
            workflow_id: WorkflowId(workflow_id.clone()),
            run_id: None,
            reason: String::new(),
        })),
        EventKind::RequestCancelExternalWorkflowExecutionInitiated { .. } => {
            Some("RequestCancelExternalWorkflowExecution".into())
        }
        EventKind::SignalExternalWorkflowExecutionInitiated {
            workflow_id,
            run_id,
            signal_name,
            input,
        } => Some(signature(&Command::SignalExternal {
            workflow_id: WorkflowId(workflow_id.clone()),
            run_id: run_id.clone(),
            signal_name: signal_name.clone(),
            input: input.clone(),
        })),
        EventKind::MarkerRecorded {
            marker_name,
            details,
        } => Some(signature(&Command::RecordMarker {
            marker_name: marker_name.clone(),
            details: details.clone(),
        })),
        EventKind::StartChildWorkflowExecutionInitiated {
            workflow_id,
            workflow_type,
            input,
            parent_close_policy,
            options,
        } => Some(signature(&Command::StartChild {
            workflow_type: workflow_type.clone(),
            workflow_id: WorkflowId(workflow_id.clone()),
            input: input.clone(),
            policy: *parent_close_policy,
            options: options.clone(),
        })),
        EventKind::WorkflowExecutionUpdateCompleted {
            update_id,
            result,
            failure,
        } => Some(signature(&Command::CompleteUpdate {
            update_id: update_id.clone(),
            outcome: match (result, failure) {
                (_, Some(f)) => Err(f.clone()),
                (r, None) => Ok(r.clone().unwrap_or_default()),
            },
        })),
        EventKind::WorkflowExecutionCompleted { .. }
        | EventKind::WorkflowExecutionFailed { .. }
        | EventKind::WorkflowExecutionCanceled { .. }
        | EventKind::WorkflowExecutionContinuedAsNew { .. } => Some(signature(expected)),
        _ => None,
    }
}

/// Replays the history of the open run `run` (up to its last completed Workflow Task and the
/// commands it recorded, as a query sees it) against `compiled` without recording anything:
/// `Ok` when the code gets through it (and would go on with its next commands), otherwise
/// the divergence (non-determinism, a panic, a trap). How a new version is checked before open
/// runs are moved to it.
pub fn check_open_run(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
    rec: &RunRecord,
    history: &[Event],
) -> Result<(), String> {
    let open = OpenRun {
        run,
        workflow_id: rec.workflow_id.clone(),
        info: run_info(rec),
        time_limit: task_time_limit(limits, rec),
    };
    replay_processed(
        sandbox,
        compiled,
        limits,
        served,
        open,
        history,
        start_input(history),
    )
}

/// An open run as [`replay_processed`] replays it.
struct OpenRun {
    run: RunId,
    workflow_id: WorkflowId,
    info: RunInfo,
    time_limit: Duration,
}

/// Replays what `history`'s completed Workflow Tasks processed (a query's view): `Ok` when the
/// code gets through it without diverging; what comes after is for the next task.
fn replay_processed(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    open: OpenRun,
    history: &[Event],
    input: Payload,
) -> Result<(), String> {
    let (upto, task_ms) = super::query::processed_by_tasks(history);
    let started_ms = task_ms.unwrap_or_else(|| history.first().map_or(0, |e| e.time_ms));
    let replay = Replay::new(
        open.run,
        open.workflow_id,
        &history[..upto],
        1,
        started_ms,
        limits.clone(),
        served.clone(),
    )
    .with_info(open.info);
    match execute(sandbox, compiled, replay, &input, open.time_limit) {
        GuestOutcome::Failed(cause, message) => Err(format!("{cause:?}: {message}")),
        GuestOutcome::Terminate(reason) => Err(reason),
        GuestOutcome::Commands(_) | GuestOutcome::Query(_) | GuestOutcome::Stale => Ok(()),
    }
}

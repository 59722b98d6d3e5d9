//! One Workflow Task: load the run, instantiate its component, replay the history, and commit
//! the new commands or record the task failure.
//!
//! A task either commits all of its commands and events in one write transaction or commits
//! nothing but a WorkflowTaskFailed. Non-determinism, traps and exceeded limits fail the task
//! (retried with backoff; the execution stays open); a workflow returning an error fails the
//! execution. This module does not decide when tasks run; `api` schedules them.

use crate::history::{Payload, WorkflowTaskFailedCause};
use crate::ids::RunId;
use crate::limits::Limits;
use crate::replay::{Interrupt, Replay, Served, describe_command};
use crate::sandbox::{CompiledWorkflow, Sandbox};
use crate::store::{Effects, Store, StoreError, TaskCompletion};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{info, warn};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What became of a task.
#[derive(Debug, PartialEq)]
pub enum TaskOutcome {
    /// Commands committed.
    Completed(Effects),
    /// The task failed and will be retried.
    Failed {
        /// Cause.
        cause: WorkflowTaskFailedCause,
        /// Message recorded.
        message: String,
    },
    /// The history grew while the task ran; run it again.
    Conflict,
    /// The run reached its history limit and was terminated.
    Terminated(String),
    /// Nothing to do (run closed, no task pending, or not yet due).
    Skipped,
}

/// Outcome of running the guest, before anything is committed.
enum GuestOutcome {
    Commands(Vec<crate::store::Command>),
    Failed(WorkflowTaskFailedCause, String),
    Terminate(String),
}

/// Runs the pending Workflow Task of `run`, if it is due, with the components and limits of
/// the run's namespace.
pub fn run_workflow_task(
    store: &Store,
    sandbox: &Sandbox,
    workflows: &HashMap<String, CompiledWorkflow>,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
) -> Result<TaskOutcome, StoreError> {
    let started_ms = now_ms();
    let (rec, history) = store.load_run(run)?;
    let Some(pending) = rec.workflow_task.clone() else {
        return Ok(TaskOutcome::Skipped);
    };
    if rec.status.is_closed() || pending.due_ms > started_ms {
        return Ok(TaskOutcome::Skipped);
    }
    let span = tracing::info_span!(
        "workflow_task",
        namespace = %rec.namespace,
        workflow_id = %rec.workflow_id,
        run_id = %run,
        attempt = pending.attempt,
        events = history.len()
    );
    let _enter = span.enter();
    let events = rec.next_event_id - 1;
    if events >= limits.max_history_events || rec.history_bytes >= limits.max_history_bytes {
        let reason = format!(
            "the history reached its limit ({events} events, {} bytes; limits {} events, {} bytes); a long-running workflow must continue as a new run before that",
            rec.history_bytes, limits.max_history_events, limits.max_history_bytes
        );
        return terminate(store, run, reason);
    }
    if events >= limits.warn_history_events || rec.history_bytes >= limits.warn_history_bytes {
        warn!(
            events,
            bytes = rec.history_bytes,
            "the history is large and approaches its limit ({} events, {} bytes), where the run is terminated; continue the workflow as a new run",
            limits.max_history_events,
            limits.max_history_bytes
        );
    }
    let outcome = match workflows.get(&rec.workflow_type) {
        None => GuestOutcome::Failed(
            WorkflowTaskFailedCause::InstantiationFailed,
            format!(
                "workflow type '{}' is not registered in namespace {} on this host; register its component and the task will be retried",
                rec.workflow_type, rec.namespace
            ),
        ),
        Some(compiled) => {
            let input = match history.first().map(|e| &e.kind) {
                Some(crate::history::EventKind::WorkflowExecutionStarted { input, .. }) => {
                    input.clone()
                }
                _ => Payload::default(),
            };
            let replay = Replay::new(
                run,
                rec.workflow_id.clone(),
                &history,
                pending.attempt,
                started_ms,
                limits.clone(),
                served.clone(),
            );
            execute(sandbox, compiled, replay, &input)
        }
    };
    match outcome {
        GuestOutcome::Commands(commands) => {
            let n = commands.len();
            let completion = TaskCompletion {
                run,
                expected_next_event_id: rec.next_event_id,
                attempt: pending.attempt,
                started_ms,
                commands,
            };
            match store.complete_workflow_task(completion, now_ms()) {
                Ok(fx) => {
                    info!(commands = n, closed = fx.closed, "workflow task completed");
                    Ok(TaskOutcome::Completed(fx))
                }
                Err(StoreError::Conflict(..)) => Ok(TaskOutcome::Conflict),
                Err(e) => Err(e),
            }
        }
        GuestOutcome::Terminate(reason) => terminate(store, run, reason),
        GuestOutcome::Failed(cause, message) => {
            let retry_at = now_ms()
                + limits
                    .workflow_task_backoff(pending.attempt + 1)
                    .as_millis() as u64;
            warn!(?cause, %message, retry_at, "workflow task failed; the execution stays open and the task will be retried");
            store.fail_workflow_task(
                run,
                pending.attempt,
                started_ms,
                cause.clone(),
                &message,
                retry_at,
            )?;
            Ok(TaskOutcome::Failed { cause, message })
        }
    }
}

fn terminate(store: &Store, run: RunId, reason: String) -> Result<TaskOutcome, StoreError> {
    warn!(%reason, "terminating the run");
    store.terminate(run, &reason, now_ms())?;
    Ok(TaskOutcome::Terminated(reason))
}

fn execute(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    replay: Replay,
    input: &Payload,
) -> GuestOutcome {
    let mut wasm_store = sandbox.store(replay);
    let result = compiled.run(&mut wasm_store, &input.0);
    let replay = &mut wasm_store.data_mut().replay;
    match result {
        Ok(ret) => match replay.finish(ret) {
            Ok(commands) => GuestOutcome::Commands(commands),
            Err(i) => interrupt_failure(i),
        },
        Err(err) => match replay.interrupt().cloned() {
            Some(Interrupt::Suspend) => GuestOutcome::Commands(replay.take_commands()),
            Some(i) => interrupt_failure(i),
            None => {
                if let Some(wasmtime::Trap::Interrupt) = err.downcast_ref::<wasmtime::Trap>() {
                    return GuestOutcome::Failed(
                        WorkflowTaskFailedCause::LimitExceeded,
                        format!(
                            "the workflow ran longer than the task CPU limit of {:?} without waiting; a workflow must not loop or compute for long (move heavy work into an activity)",
                            sandbox.limits().max_task_cpu
                        ),
                    );
                }
                let log = replay.log();
                let tail = log.stderr_tail.lock().expect("stderr lock");
                let stderr = String::from_utf8_lossy(&tail);
                let stderr = stderr.trim();
                let mut message = match err.downcast_ref::<wasmtime::Trap>() {
                    Some(trap) => format!("the workflow trapped: {trap}"),
                    None => format!("the workflow trapped: {}", err.root_cause()),
                };
                if !stderr.is_empty() {
                    message.push_str(&format!("\nguest stderr: {stderr}"));
                }
                if let Some(bt) = err.downcast_ref::<wasmtime::WasmBacktrace>() {
                    // Backtraces are capped; a capped one made of one function calling
                    // itself is the signature of runaway recursion.
                    let frames = bt.frames();
                    let repeated = frames
                        .windows(2)
                        .filter(|w| w[0].func_index() == w[1].func_index())
                        .count();
                    if frames.len() >= 16 && repeated + 3 >= frames.len() {
                        message.push_str(
                            "\nthe same function fills the call stack: probably unbounded recursion overflowed the guest's stack",
                        );
                    }
                    // The innermost frames only; a deep recursion has thousands.
                    let text = bt.to_string();
                    let frames: Vec<&str> = text.lines().take(9).collect();
                    message.push('\n');
                    message.push_str(&frames.join("\n"));
                }
                GuestOutcome::Failed(WorkflowTaskFailedCause::GuestTrap, message)
            }
        },
    }
}

fn interrupt_failure(i: Interrupt) -> GuestOutcome {
    if let Interrupt::HistoryLimit(reason) = i {
        return GuestOutcome::Terminate(reason);
    }
    let cause = match &i {
        Interrupt::HistoryLimit(_) => unreachable!("handled above"),
        Interrupt::NonDeterminism(_) => WorkflowTaskFailedCause::NonDeterminism,
        Interrupt::Limit(_) => WorkflowTaskFailedCause::LimitExceeded,
        Interrupt::InvalidCall(_) => WorkflowTaskFailedCause::BadCommand,
        Interrupt::Suspend => WorkflowTaskFailedCause::GuestTrap,
    };
    GuestOutcome::Failed(cause, i.to_string())
}

/// Replays the complete history of a closed run against `compiled` and checks that the code
/// reaches the same end: the same commands and the same result or failure. This is how a new
/// build of a workflow is checked against recorded histories before it is deployed.
pub fn verify_replay(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    limits: &Limits,
    served: &Arc<Served>,
    run: RunId,
    workflow_id: crate::ids::WorkflowId,
    history: &[crate::history::Event],
) -> Result<(), String> {
    use crate::history::EventKind;
    use crate::store::Command;
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
        _ => None,
    });
    let Some(expected) = expected else {
        return Err("the run is still open; only closed runs can be verified".into());
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
    match execute(sandbox, compiled, replay, &input) {
        GuestOutcome::Failed(cause, message) => Err(format!("{cause:?}: {message}")),
        GuestOutcome::Terminate(reason) => Err(reason),
        GuestOutcome::Commands(commands) => {
            let recorded: Vec<String> = history[close_task + 1..]
                .iter()
                .filter_map(|e| match &e.kind {
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
                    EventKind::TimerStarted { duration_ms, .. } => {
                        Some(signature(&Command::StartTimer {
                            duration_ms: *duration_ms,
                        }))
                    }
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
                    EventKind::ActivityTaskCancelRequested { .. } => {
                        Some("RequestCancelActivityTask".into())
                    }
                    EventKind::TimerCanceled { .. } => Some("CancelTimer".into()),
                    EventKind::NexusOperationCancelRequested { .. } => {
                        Some("RequestCancelNexusOperation".into())
                    }
                    EventKind::WorkflowExecutionCompleted { .. }
                    | EventKind::WorkflowExecutionFailed { .. } => Some(signature(&expected)),
                    _ => None,
                })
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
fn signature(cmd: &crate::store::Command) -> String {
    use crate::store::Command;
    match cmd {
        Command::RequestCancelActivity { .. }
        | Command::CancelTimer { .. }
        | Command::RequestCancelNexusOperation { .. } => describe_command(cmd),
        other => format!("{other:?}"),
    }
}

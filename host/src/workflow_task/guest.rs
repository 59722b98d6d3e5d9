//! Running the guest once on a replay, and turning how it stopped into an outcome (commands,
//! a query answer, a failure with its cause and the guest's backtrace).

use super::*;

pub(super) fn execute(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    replay: Replay,
    input: &Payload,
    limit: Duration,
) -> GuestOutcome {
    execute_with_state(sandbox, compiled, replay, input, limit).0
}

pub(super) fn execute_with_state(
    sandbox: &Sandbox,
    compiled: &CompiledWorkflow,
    replay: Replay,
    input: &Payload,
    limit: Duration,
) -> (GuestOutcome, UpdateState) {
    let mut wasm_store = sandbox.store(replay, limit);
    let result = compiled.run(&mut wasm_store, &input.0);
    let replay = &mut wasm_store.data_mut().replay;
    let outcome = guest_outcome(replay, result, limit);
    (outcome, replay.update_state().clone())
}

pub(super) fn guest_outcome(
    replay: &mut Replay,
    result: wasmtime::Result<Result<Vec<u8>, Failure>>,
    limit: Duration,
) -> GuestOutcome {
    match result {
        Ok(ret) => match replay.finish(ret) {
            Ok(commands) => GuestOutcome::Commands(commands),
            Err(i) => interrupt_failure(i),
        },
        Err(err) => match replay.interrupt().cloned() {
            Some(Interrupt::Suspend | Interrupt::ContinuedAsNew) => {
                GuestOutcome::Commands(replay.take_commands())
            }
            Some(Interrupt::Stale(_)) => GuestOutcome::Stale,
            Some(Interrupt::QueryAnswered) => GuestOutcome::Query(
                replay
                    .query_answer()
                    .cloned()
                    .expect("an answered query has its answer"),
            ),
            Some(i) => interrupt_failure(i),
            None => {
                if let Some(wasmtime::Trap::Interrupt) = err.downcast_ref::<wasmtime::Trap>() {
                    let mut message = format!(
                        "the Workflow Task passed its time limit of {limit:?} (wall-clock time from the start of the task) while running the workflow's own code, which neither finished nor waited on its history; a workflow must not loop or compute for long (move heavy work into an activity)",
                    );
                    append_backtrace(&mut message, &err);
                    return GuestOutcome::Failed(WorkflowTaskFailedCause::LimitExceeded, message);
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
                append_backtrace(&mut message, &err);
                GuestOutcome::Failed(WorkflowTaskFailedCause::GuestTrap, message)
            }
        },
    }
}

/// Appends where the guest was (the innermost frames of its backtrace) to a failure message.
pub(super) fn append_backtrace(message: &mut String, err: &wasmtime::Error) {
    let Some(bt) = err.downcast_ref::<wasmtime::WasmBacktrace>() else {
        return;
    };
    // Backtraces are capped; a capped one made of one function calling itself is the
    // signature of runaway recursion.
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

pub(super) fn interrupt_failure(i: Interrupt) -> GuestOutcome {
    if let Interrupt::HistoryLimit(reason) = i {
        return GuestOutcome::Terminate(reason);
    }
    let cause = match &i {
        Interrupt::HistoryLimit(_) => unreachable!("handled above"),
        Interrupt::NonDeterminism(_) => WorkflowTaskFailedCause::NonDeterminism,
        Interrupt::Limit(_) => WorkflowTaskFailedCause::LimitExceeded,
        Interrupt::InvalidCall(_) => WorkflowTaskFailedCause::BadCommand,
        Interrupt::UnhandledMessages(_) => WorkflowTaskFailedCause::UnhandledCommand,
        Interrupt::Suspend
        | Interrupt::ContinuedAsNew
        | Interrupt::QueryAnswered
        | Interrupt::Evicted
        | Interrupt::Stale(_) => WorkflowTaskFailedCause::GuestTrap,
    };
    GuestOutcome::Failed(cause, i.to_string())
}

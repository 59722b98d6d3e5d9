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
        let sent = w.resume.send(Resume::Continue {
            tail,
            attempt,
            started_ms,
            known_next: w.known_next,
        });
        if sent.is_ok() {
            match next_report(w, env.probe) {
                (GuestOutcome::Stale, _) => {}
                other => return Ok(other),
            }
        }
    }
    let history = whole_history(env.store, run, after, history)?;
    let limit = task_time_limit(env.limits, rec);
    let (report_tx, reports) = mpsc::channel();
    let (resume, resume_rx) = mpsc::channel();
    let tx = report_tx.clone();
    let link = StickyLink {
        suspended: Box::new(move |commands| tx.send(Report::Suspended(commands)).is_ok()),
        resume: resume_rx,
    };
    let replay = prepare(env, run, rec, &history, attempt, started_ms).with_sticky(link);
    let mut store = env.sandbox.sticky_store(replay, limit);
    let memory = store.data().memory();
    let input = start_input(&history);
    let compiled2 = compiled.clone();
    let spawned = std::thread::Builder::new()
        .name("weft-workflow".into())
        .stack_size(env.limits.max_wasm_stack_bytes + 2 * 1024 * 1024)
        .spawn(move || {
            let result = compiled2.run(&mut store, &input.0);
            let outcome = guest_outcome(&mut store.data_mut().replay, result, limit);
            let _ = report_tx.send(Report::Done(outcome));
        });
    if let Err(e) = spawned {
        return Ok((
            GuestOutcome::Failed(
                WorkflowTaskFailedCause::InstantiationFailed,
                format!("cannot start a thread for the workflow: {e}"),
            ),
            None,
        ));
    }
    Ok(next_report(
        Worker {
            resume,
            reports,
            compiled_id: compiled.id(),
            memory,
            known_next: 0,
            seen: 0,
        },
        env.probe,
    ))
}

/// Waits for the instance to suspend (it is returned for the cache) or finish. Gives up (and
/// drops the instance) if the watchdog gave up on the task meanwhile, so no thread of the host
/// waits on a stuck guest.
pub(super) fn next_report(
    w: Worker<GuestOutcome>,
    probe: Option<&TaskProbe>,
) -> (GuestOutcome, Option<Worker<GuestOutcome>>) {
    let report = loop {
        match w.reports.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => break Ok(r),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let timed_out = probe.is_some_and(|p| {
                    p.state.load(std::sync::atomic::Ordering::SeqCst) == PROBE_TIMED_OUT
                });
                if timed_out {
                    return (
                        GuestOutcome::Failed(
                            WorkflowTaskFailedCause::LimitExceeded,
                            "the watchdog gave up on the cached instance".into(),
                        ),
                        None,
                    );
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err(()),
        }
    };
    match report {
        Ok(Report::Suspended(commands)) => (GuestOutcome::Commands(commands), Some(w)),
        Ok(Report::Done(outcome)) => (outcome, None),
        Err(()) => (
            GuestOutcome::Failed(
                WorkflowTaskFailedCause::GuestTrap,
                "the workflow's thread ended without a report".into(),
            ),
            None,
        ),
    }
}

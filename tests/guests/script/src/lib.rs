//! A workflow whose behaviour is entirely driven by its JSON input, a "script", for the
//! deterministic simulator and property tests. Input (every field optional):
//!
//! ```json
//! {"steps": [STEP, ...], "continue_as_new": 0, "mutate_in_validator": false}
//! ```
//!
//! A STEP is one of (serde's externally tagged enum):
//! - `{"activity": {"name": "echo", "input": ANY}}`: runs the activity (input defaults to
//!   null); logs `activity NAME ok RESULT` or `activity NAME err ERROR_TYPE`. A failed activity
//!   does not fail the workflow.
//! - `{"timer": {"ms": 100}}`: a durable timer; logs `timer MS`.
//! - `{"all": [STEP, ...]}`: runs the steps concurrently and waits for all of them (their
//!   entries in completion order), then logs `all done`.
//! - `{"race": [STEP, ...]}` (at least one): runs the steps concurrently until the first
//!   finishes, logs `race won I`; the others are abandoned (their futures are dropped: they
//!   issue no further commands, their operations in flight are left to finish on their own).
//! - `{"signal": {"name": "go"}}`: takes the next signal `go` (buffered if it came earlier);
//!   logs `signal NAME PAYLOAD` (or `signal NAME err ERROR_TYPE` if the payload is not JSON).
//! - `{"child": {"steps": [STEP, ...]}}`: runs a child workflow of type `script` with input
//!   `{"steps": [...]}` and logs `child ok N` (N entries in its log) or `child err ERROR_TYPE`.
//! - `{"fail": {"message": "..."}}`: fails the workflow at once with error type `ScriptFailed`.
//!
//! The result is the log (`Vec<String>`). After the steps, a positive `continue_as_new`
//! continues as new with the same script and the count less one. Query `log` reads the log;
//! update `bump` (i64, negatives rejected by its validator with `Negative`) adds to a counter,
//! logs `bump N` and returns the counter. A script that does not decode, or an empty race or
//! activity name, fails with `BadScript`. Once the workflow is asked to cancel, the next step
//! (or the canceled wait) ends it as canceled.
//!
//! The planted bug: with `mutate_in_validator`, the `bump` validator increments the global
//! `VALIDATED`. Validators run only when an update is first delivered live, never on replay,
//! so the count differs between the live task and a replay, and while it is positive the
//! commands change: the `bump` handler starts a silent 1 ms timer (not awaited), and every
//! later activity step is preceded by a silent 1 ms timer. The host runs an update's task on
//! a fresh instance that it drops afterwards, and delivers the update once the code waits at
//! the end of the history, so only the handler's timer is recorded; the next task replays
//! without it and fails with a non-determinism error. (The activity-step timer would show on a
//! host that kept the validating instance.)

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;
use weft_sdk::{
    Failure, activity, child_workflow, continue_as_new, info, is_cancel_requested,
    set_query_handler, set_update_handler_with_validator, signal_channel, timer, uuid,
};

thread_local! {
    /// Updates validated in this instance: mutated only with `mutate_in_validator` (the bug).
    static VALIDATED: Cell<u64> = const { Cell::new(0) };
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct Script {
    steps: Vec<Step>,
    continue_as_new: u32,
    mutate_in_validator: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    Activity {
        name: String,
        #[serde(default)]
        input: Value,
    },
    Timer {
        ms: u64,
    },
    All(Vec<Step>),
    Race(Vec<Step>),
    Signal {
        name: String,
    },
    Child {
        #[serde(default)]
        steps: Vec<Step>,
    },
    Fail {
        #[serde(default)]
        message: String,
    },
}

/// The log every step appends to, shared with the query and update handlers.
type Log = Rc<RefCell<Vec<String>>>;

/// A step running: boxed, as steps nest.
type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Failure>> + 'a>>;

fn bad(message: impl Into<String>) -> Failure {
    Failure::non_retryable("BadScript", message)
}

fn canceled(what: &str) -> Failure {
    Failure::canceled(format!("the workflow was canceled {what}"))
}

/// Rejects what the host would refuse or what has no meaning, before any command is issued.
fn check(steps: &[Step]) -> Result<(), Failure> {
    for step in steps {
        match step {
            Step::Activity { name, .. } if name.is_empty() || name.len() > 1000 => {
                return Err(bad("an activity name must have 1 to 1000 bytes"));
            }
            Step::Race(branches) if branches.is_empty() => {
                return Err(bad("a race needs at least one step"));
            }
            Step::All(inner) | Step::Race(inner) | Step::Child { steps: inner } => check(inner)?,
            _ => {}
        }
    }
    Ok(())
}

async fn script(input: Value) -> Result<Vec<String>, Failure> {
    let script: Script = serde_json::from_value(input)
        .map_err(|e| bad(format!("the script does not decode: {e}")))?;
    check(&script.steps)?;

    // Handlers first: messages may arrive at the first wait.
    let log: Log = Rc::default();
    let l = log.clone();
    set_query_handler("log", move |_: Value| Ok(l.borrow().clone()));
    let (l, counter, mutate) = (log.clone(), Cell::new(0i64), script.mutate_in_validator);
    set_update_handler_with_validator(
        "bump",
        move |n: &i64| {
            if mutate {
                // THE BUG: a validator must not change state.
                VALIDATED.with(|v| v.set(v.get().saturating_add(1)));
            }
            if *n < 0 {
                return Err(Failure::new("Negative", format!("{n} is negative")));
            }
            Ok(())
        },
        move |n: i64| {
            if VALIDATED.with(Cell::get) > 0 {
                // The bug's effect in the validating task itself: see the module docs.
                let _ = timer(Duration::from_millis(1));
            }
            counter.set(counter.get().saturating_add(n));
            l.borrow_mut().push(format!("bump {n}"));
            Ok(counter.get())
        },
    );

    for step in &script.steps {
        run_step(&log, step).await?;
    }
    if script.continue_as_new > 0 {
        continue_as_new(&Script {
            continue_as_new: script.continue_as_new - 1,
            ..script
        });
    }
    let out = log.borrow().clone();
    Ok(out)
}

fn push(log: &Log, entry: String) {
    log.borrow_mut().push(entry);
}

/// Runs one step. Borrows of the log are never held across an await (handlers borrow it).
fn run_step<'a>(log: &'a Log, step: &'a Step) -> StepFuture<'a> {
    Box::pin(async move {
        if is_cancel_requested() {
            return Err(canceled("before a step"));
        }
        match step {
            Step::Activity { name, input } => {
                if VALIDATED.with(Cell::get) > 0 && !timer(Duration::from_millis(1)).await {
                    return Err(canceled("during a timer"));
                }
                match activity::<_, Value>(name, input).await {
                    Ok(v) => push(log, format!("activity {name} ok {v}")),
                    Err(f) if f.is_canceled() && is_cancel_requested() => return Err(f),
                    Err(f) => push(log, format!("activity {name} err {}", f.error_type)),
                }
            }
            Step::Timer { ms } => {
                if !timer(Duration::from_millis(*ms)).await {
                    return Err(canceled("during a timer"));
                }
                push(log, format!("timer {ms}"));
            }
            Step::All(inner) => {
                join(inner.iter().map(|s| Some(run_step(log, s))).collect()).await?;
                push(log, "all done".into());
            }
            Step::Race(inner) => {
                let won = race(inner.iter().map(|s| run_step(log, s)).collect()).await?;
                push(log, format!("race won {won}"));
            }
            Step::Signal { name } => match signal_channel::<Value>(name).recv_async().await {
                Ok(v) => push(log, format!("signal {name} {v}")),
                Err(f) if f.is_canceled() => return Err(f),
                Err(f) => push(log, format!("signal {name} err {}", f.error_type)),
            },
            Step::Child { steps } => {
                // Deterministic (the run's seeded generator) and unique; the prefix is bounded
                // so nested children stay within the host's 1000-byte id limit.
                let parent: String = info().workflow_id.chars().take(200).collect();
                let id = format!("{parent}-child-{}", uuid());
                let child =
                    child_workflow::<_, Vec<String>>("script", &id, &json!({"steps": steps}));
                match child.await {
                    Ok(entries) => push(log, format!("child ok {}", entries.len())),
                    Err(f) if f.is_canceled() && is_cancel_requested() => return Err(f),
                    Err(f) => push(log, format!("child err {}", f.error_type)),
                }
            }
            Step::Fail { message } => return Err(Failure::new("ScriptFailed", message.clone())),
        }
        Ok(())
    })
}

/// Waits for all `branches`, polled in index order on every poll (the executor polls again
/// whenever anything changed), so the interleaving is the same on every replay. Fails with the
/// first failure, dropping the rest.
async fn join(mut branches: Vec<Option<StepFuture<'_>>>) -> Result<(), Failure> {
    poll_fn(move |cx| {
        for slot in branches.iter_mut() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => *slot = None,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
        }
        if branches.iter().all(Option::is_none) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Waits for the first of `branches` to finish (the lowest index among those finishing in
/// the same poll) and returns its index, or its failure; the others are dropped.
async fn race(mut branches: Vec<StepFuture<'_>>) -> Result<usize, Failure> {
    poll_fn(move |cx| {
        for (i, f) in branches.iter_mut().enumerate() {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready(r.map(|()| i));
            }
        }
        Poll::Pending
    })
    .await
}

weft_sdk::workflow_async!(script);

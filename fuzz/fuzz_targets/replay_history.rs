//! A history built from the input (events of the kinds the `steps` workflow produces, with
//! fuzzed ids, payloads and order, plus raw stored events of any kind) replayed against a real
//! component with `Host::replay_history`, as `weft replay` does.
//!
//! Property: the host never panics or hangs (run with `-timeout`): it replays the history or
//! returns an error that says why not.
//!
//! The component is read once from `$WEFT_FUZZ_COMPONENT`, by default the `steps` test guest
//! that `cargo build -p weft-tests` builds; without it every input is skipped.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::LazyLock;
use weft::history::{DEFAULT_TASK_QUEUE, decode_event};
use weft::{Event, EventId, EventKind, Failure, Host, HostBuilder, Payload, RetryPolicy, RunId};

const STEPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target/wasm-guests/wasm32-wasip2/release/steps.wasm"
);

/// One scratch host for the process, and the component's bytes.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    host: Host,
    component: Vec<u8>,
}

static FIXTURE: LazyLock<Option<Fixture>> = LazyLock::new(|| {
    let path =
        std::env::var_os("WEFT_FUZZ_COMPONENT").map_or_else(|| PathBuf::from(STEPS), PathBuf::from);
    let Ok(component) = std::fs::read(&path) else {
        eprintln!(
            "replay_history: no component at {}: build it with `cargo build -p weft-tests` or set \
             WEFT_FUZZ_COMPONENT; every input is skipped",
            path.display()
        );
        return None;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let db = std::env::temp_dir().join(format!("weft-fuzz-replay-{}.redb", std::process::id()));
    let host = runtime
        .block_on(
            HostBuilder::new(&db)
                .namespace("default", |ns| ns.remote_activities())
                .start(),
        )
        .expect("start the scratch host");
    // The host keeps the file open; removed now, nothing is left behind.
    let _ = std::fs::remove_file(&db);
    Some(Fixture {
        runtime,
        host,
        component,
    })
});

fuzz_target!(|history: History| {
    let Some(f) = FIXTURE.as_ref() else {
        return;
    };
    let events = history.events();
    let replayed =
        f.runtime.block_on(
            f.host
                .replay_history(f.component.clone(), "fuzz", RunId(1), events),
        );
    if let Err(e) = replayed {
        assert!(
            !e.to_string().is_empty(),
            "an error without a message: {e:?}"
        );
    }
});

/// A run of the `steps` workflow, roughly: started, then the steps, then maybe closed.
#[derive(Arbitrary, Debug)]
struct History {
    input: Input,
    random_seed: u64,
    steps: Vec<Step>,
    close: Option<Close>,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Steps { count: u8, sleep_ms: u16 },
    Raw(Vec<u8>),
}

/// Events to append. `of` picks an earlier event to refer to (counting back among those of
/// the right kind), or is the event id itself when there is none.
#[derive(Arbitrary, Debug)]
enum Step {
    /// WorkflowTaskScheduled, WorkflowTaskStarted, then WorkflowTaskCompleted or (`failed`)
    /// WorkflowTaskFailed.
    Task {
        failed: bool,
    },
    ScheduleActivity {
        i: u8,
        activity_type: Option<String>,
    },
    ActivityCompleted {
        of: u8,
        result: Option<String>,
    },
    ActivityFailed {
        of: u8,
        non_retryable: bool,
    },
    TimerStarted {
        duration_ms: u16,
    },
    TimerFired {
        of: u8,
    },
    Signaled {
        name: String,
    },
    CancelRequested,
    /// An event as stored (any kind, ids and time as encoded).
    Raw(Vec<u8>),
}

/// The closing task and event (a history replays only when closed).
#[derive(Arbitrary, Debug)]
enum Close {
    Completed { steps: u8 },
    Failed,
    Canceled,
    ContinuedAsNew,
}

impl History {
    fn events(&self) -> Vec<Event> {
        let input = match &self.input {
            Input::Steps { count, sleep_ms } => {
                Payload::json(&serde_json::json!({ "count": count, "sleep_ms": sleep_ms }))
            }
            Input::Raw(bytes) => Payload(bytes.clone()),
        };
        let mut h = Builder(Vec::new());
        h.push(EventKind::WorkflowExecutionStarted {
            workflow_type: "steps".into(),
            input,
            random_seed: self.random_seed,
        });
        for step in &self.steps {
            h.step(step);
        }
        if let Some(close) = &self.close {
            h.step(&Step::Task { failed: false });
            h.push(match close {
                Close::Completed { steps } => EventKind::WorkflowExecutionCompleted {
                    result: Payload::json(&serde_json::json!({
                        "results": (0..*steps).map(|i| format!("step-{i}")).collect::<Vec<_>>()
                    })),
                },
                Close::Failed => EventKind::WorkflowExecutionFailed {
                    failure: Failure::new("Fuzz", "failed"),
                },
                Close::Canceled => EventKind::WorkflowExecutionCanceled { details: None },
                Close::ContinuedAsNew => EventKind::WorkflowExecutionContinuedAsNew {
                    new_execution_run_id: "00000000-0000-4000-8000-000000000002".into(),
                    workflow_type: "steps".into(),
                    input: Payload::default(),
                },
            });
        }
        h.0
    }
}

struct Builder(Vec<Event>);

impl Builder {
    fn push(&mut self, kind: EventKind) {
        let id = self.0.len() as u64 + 1;
        self.0.push(Event {
            id: EventId(id),
            time_ms: 1_700_000_000_000 + 10 * id,
            kind,
        });
    }

    /// The `of`-th latest event matching `kind`, or event `of` when none does.
    fn earlier(&self, of: u8, kind: fn(&EventKind) -> bool) -> EventId {
        let ids: Vec<EventId> = self
            .0
            .iter()
            .filter(|e| kind(&e.kind))
            .map(|e| e.id)
            .collect();
        match ids.len() {
            0 => EventId(of.into()),
            n => ids[n - 1 - usize::from(of) % n],
        }
    }

    fn step(&mut self, step: &Step) {
        let scheduled = |k: &EventKind| matches!(k, EventKind::ActivityTaskScheduled { .. });
        let timer = |k: &EventKind| matches!(k, EventKind::TimerStarted { .. });
        let kind = match step {
            Step::Task { failed } => {
                self.push(EventKind::WorkflowTaskScheduled { attempt: 1 });
                let scheduled_event_id = self.earlier(0, |_| true);
                self.push(EventKind::WorkflowTaskStarted { scheduled_event_id });
                let started_event_id = self.earlier(0, |_| true);
                if *failed {
                    EventKind::WorkflowTaskFailed {
                        started_event_id,
                        cause: weft::history::WorkflowTaskFailedCause::GuestTrap,
                        message: "fuzz".into(),
                    }
                } else {
                    EventKind::WorkflowTaskCompleted { started_event_id }
                }
            }
            Step::ScheduleActivity { i, activity_type } => EventKind::ActivityTaskScheduled {
                activity_type: activity_type.clone().unwrap_or_else(|| "step".into()),
                input: Payload::json(&serde_json::json!({ "i": i })),
                start_to_close_timeout_ms: 60_000,
                retry_policy: RetryPolicy::default(),
                schedule_to_close_timeout_ms: None,
                schedule_to_start_timeout_ms: None,
                heartbeat_timeout_ms: None,
                task_queue: DEFAULT_TASK_QUEUE.into(),
            },
            Step::ActivityCompleted { of, result } => EventKind::ActivityTaskCompleted {
                scheduled_event_id: self.earlier(*of, scheduled),
                result: match result {
                    Some(text) => Payload::json(&text.as_str().into()),
                    None => Payload(vec![0xff]),
                },
            },
            Step::ActivityFailed { of, non_retryable } => EventKind::ActivityTaskFailed {
                scheduled_event_id: self.earlier(*of, scheduled),
                failure: Failure {
                    non_retryable: *non_retryable,
                    ..Failure::new("Fuzz", "failed")
                },
            },
            Step::TimerStarted { duration_ms } => EventKind::TimerStarted {
                duration_ms: (*duration_ms).into(),
                fire_at_ms: self.0.last().map_or(0, |e| e.time_ms) + u64::from(*duration_ms),
            },
            Step::TimerFired { of } => EventKind::TimerFired {
                started_event_id: self.earlier(*of, timer),
            },
            Step::Signaled { name } => EventKind::WorkflowExecutionSignaled {
                signal_name: name.clone(),
                input: Payload::default(),
            },
            Step::CancelRequested => EventKind::WorkflowExecutionCancelRequested {
                reason: "fuzz".into(),
            },
            Step::Raw(bytes) => {
                if let Ok(event) = decode_event(bytes) {
                    self.0.push(event);
                }
                return;
            }
        };
        self.push(kind);
    }
}

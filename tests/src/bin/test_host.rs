//! A host process for the crash tests: registers guest components, a `step` activity that
//! logs each run to a file (fsync'd) so a test can count executions across `kill -9`, a
//! heartbeating `long` activity, and an asynchronous Nexus operation `calc/slow/wait` whose
//! handler de-duplicates on the request id and logs every delivery.
//!
//! Usage: test_host --db FILE --log FILE [--wasm TYPE=PATH]... [--start ID --type TYPE
//!        --input JSON] [--signal ID NAME JSON]... [--update ID NAME JSON UPDATE_ID]...
//!        [--wait ID] [--step-ms N] [--retry-ms N] [--compile-cache DIR]
//! The order example's activities (`reserve_inventory`, `charge_card`, `release_inventory`,
//! `ship_order`) are registered too, logging `order <type> <attempt>` lines.
//! Prints `SIGNALED`/`UPDATE` lines as signals and updates are done (in order, after the
//! start), then `RESULT <json>` or `FAILED <failure>` when `--wait` finishes.

use serde::Deserialize;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use weft::{
    ActivityContext, ActivityError, Client, HostBuilder, Limits, NexusContext, NexusError,
    NexusOutcome, NexusStart, Payload, WorkflowOutcome,
};

#[derive(Deserialize)]
struct Long {
    steps: u64,
}

fn log_has(path: &str, line: &str) -> bool {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .any(|l| l == line)
}

#[derive(Deserialize)]
struct Step {
    i: u32,
}

fn append_line(path: &str, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open run log");
    f.write_all(line.as_bytes()).expect("write run log");
    f.sync_all().expect("sync run log");
}

// Long but flat: the arguments, then the host the crash tests kill with its activities and
// workflows, top to bottom.
#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "weft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let db = get("--db").expect("--db");
    let log = get("--log").expect("--log");
    let step_ms: u64 = get("--step-ms").map_or(50, |v| v.parse().expect("--step-ms"));
    let retry_ms: u64 = get("--retry-ms").map_or(1000, |v| v.parse().expect("--retry-ms"));
    let mut builder = HostBuilder::new(&db).limits(Limits {
        workflow_task_retry_initial: Duration::from_millis(retry_ms),
        ..Limits::default()
    });
    if let Some(dir) = get("--compile-cache") {
        builder = builder.compile_cache(dir);
    }
    for (name, result) in [
        (
            "reserve_inventory",
            serde_json::json!({"reservation_id": "rsv-1"}),
        ),
        ("charge_card", serde_json::json!({"charge_id": "ch-1"})),
        ("release_inventory", serde_json::json!({})),
        (
            "ship_order",
            serde_json::json!({"tracking_number": "TRK-1"}),
        ),
    ] {
        let log = log.clone();
        builder = builder.activity(
            name,
            move |ctx: ActivityContext, _input: serde_json::Value| {
                let (log, result) = (log.clone(), result.clone());
                async move {
                    append_line(&log, &format!("order {name} {}\n", ctx.attempt));
                    Ok::<_, ActivityError>(result)
                }
            },
        );
    }
    for (i, a) in args.iter().enumerate() {
        if a == "--wasm" {
            let spec = &args[i + 1];
            let (ty, path) = spec.split_once('=').expect("--wasm TYPE=PATH");
            builder = builder.workflow_file(ty, path);
        }
    }
    for name in ["step", "step_renamed"] {
        let log = log.clone();
        builder = builder.activity(name, move |ctx: ActivityContext, input: Step| {
            let log = log.clone();
            async move {
                append_line(&log, &format!("{} {}\n", ctx.activity_key(), ctx.attempt));
                tokio::time::sleep(Duration::from_millis(step_ms)).await;
                Ok::<_, ActivityError>(format!("step-{}", input.i))
            }
        });
    }
    {
        let log = log.clone();
        builder = builder.activity("long", move |ctx: ActivityContext, input: Long| {
            let log = log.clone();
            async move {
                let from: u64 = ctx.heartbeat_details().unwrap_or(0);
                append_line(&log, &format!("long {} {from}\n", ctx.attempt));
                for i in from..input.steps {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    ctx.heartbeat(&(i + 1)).await?;
                    append_line(&log, &format!("beat {}\n", i + 1));
                }
                Ok::<_, ActivityError>(input.steps)
            }
        });
    }
    // Completes async Nexus operations once the host runs.
    let client: Arc<OnceLock<Client>> = Arc::new(OnceLock::new());
    {
        let (log, client) = (log.clone(), client.clone());
        builder = builder.namespace("default", move |ns| {
            ns.nexus_operation(
                "calc",
                "slow",
                "wait",
                move |ctx: NexusContext, _: serde_json::Value| {
                    let (log, client) = (log.clone(), client.clone());
                    async move {
                        let rid = ctx.request_id.clone();
                        append_line(&log, &format!("start {rid}\n"));
                        // The side effect happens once per request id, however often the start
                        // is delivered.
                        if !log_has(&log, &format!("effect {rid}")) {
                            append_line(&log, &format!("effect {rid}\n"));
                        }
                        // A window in which a kill leaves the start done but not recorded.
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        let token = rid.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            if let Some(c) = client.get() {
                                let result = Payload::json(&serde_json::json!({"done": rid}));
                                let _ = c
                                    .complete_nexus_operation(
                                        &token,
                                        NexusOutcome::Completed(result),
                                    )
                                    .await;
                            }
                        });
                        Ok::<_, NexusError>(NexusStart::<serde_json::Value>::Async {
                            operation_token: ctx.request_id,
                        })
                    }
                },
            )
        });
    }
    let host = builder.start().await.expect("start host");
    let _ = client.set(host.namespace("default").expect("default namespace"));
    if let Some(id) = get("--start") {
        let ty = get("--type").expect("--type");
        let input: serde_json::Value =
            serde_json::from_str(&get("--input").unwrap_or_else(|| "null".into()))
                .expect("--input");
        host.start_workflow(&ty, &id, input)
            .await
            .expect("start workflow");
    }
    println!("READY");
    // Signals and updates, in the order given.
    let c = host.namespace("default").expect("default namespace");
    let mut i = 0;
    while i < args.len() {
        let json = |k: usize| -> serde_json::Value {
            serde_json::from_str(&args[i + k]).expect("JSON argument")
        };
        match args[i].as_str() {
            "--signal" => {
                // A signal to a run that closed meanwhile is refused; say so and go on.
                match c.signal(&args[i + 1], &args[i + 2], json(3)).await {
                    Ok(()) => println!("SIGNALED {} {}", args[i + 2], args[i + 3]),
                    Err(e) => println!("SIGNAL-REFUSED {} {}: {e}", args[i + 2], args[i + 3]),
                }
                i += 4;
            }
            "--update" => {
                match c
                    .update_with_id(&args[i + 1], &args[i + 4], &args[i + 2], json(3))
                    .await
                {
                    Ok(v) => println!("UPDATE {v}"),
                    Err(e) => println!("UPDATE-ERROR {e}"),
                }
                i += 5;
            }
            _ => i += 1,
        }
    }
    // Many workflows at once (each started, then signaled, from its own task), so that the
    // writer's group commits carry many of them: every acknowledgement is printed once it
    // returned, that is once its commit is durable.
    if let Some(n) = get("--load") {
        let n: usize = n.parse().expect("--load N");
        let mut tasks = Vec::new();
        for i in 0..n {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("load-{i}");
                let input = serde_json::json!({"count": 2, "sleep_ms": 0});
                if c.start_workflow("steps", &id, input).await.is_ok() {
                    println!("STARTED {id}");
                    if c.signal(&id, "poke", serde_json::json!(i)).await.is_ok() {
                        println!("SIGNALED {id}");
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
    // Every workflow of the namespace to its end.
    if args.iter().any(|a| a == "--wait-all") {
        for w in c.list_workflows().expect("list workflows") {
            match c.result(&w.workflow_id).await.expect("result") {
                WorkflowOutcome::Completed(_) => println!("DONE {}", w.workflow_id),
                WorkflowOutcome::Failed(f) => println!("FAILED {} {f}", w.workflow_id),
            }
        }
    }
    drop(c);
    if let Some(id) = get("--wait") {
        match host.result(&id).await.expect("result") {
            WorkflowOutcome::Completed(v) => println!("RESULT {v}"),
            WorkflowOutcome::Failed(f) => println!("FAILED {f}"),
        }
    }
    drop(client);
    host.shutdown().await;
}

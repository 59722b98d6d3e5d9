//! The `weft` command line. One set of commands, two ways to reach workflows:
//!
//! - **Offline** (no `--address`): a thin layer over [`weft::Offline`] on a database file
//!   (`--db`). `describe`, `history`, `list` and `query` read the file directly (a running host
//!   may keep writing it, unless it was started with `live_readers(false)`, which locks the
//!   file) and never write it: a file a crash left unclean, or an earlier
//!   release wrote, is read through a recovered copy. `signal`, `cancel`, `terminate`, `reset`
//!   and `update` write it, so they need the file not to be held by a host; a host started
//!   later carries on from what they recorded. No command creates a database: a missing or
//!   empty file is refused, and a refused command leaves the file as it was.
//! - **Client** (`--address URL`, env `WEFT_ADDRESS`): every command is a request to a running
//!   `weft server` (docs/http-api.md), authenticated by `--api-key` (env `WEFT_API_KEY`).
//!   Only this mode starts workflows, waits for results, follows histories and manages
//!   components, namespaces and keys.
//!
//! `weft server` runs the server itself ([`weft_server::run_blocking`]).
//!
//! Human-readable output by default; `--json` prints JSON for scripts (in client mode, the
//! server's). Exit codes: 0 on success, 1 on a runtime error (unknown workflow, unreadable
//! database, a refusal by the server, a workflow that did not complete), 2 on bad usage
//! (including a command that exists only in the other mode).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod offline;
mod output;
mod remote;
mod replay;
mod server;
mod simulate;

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "Inspect and drive weft workflows: in a database file, or through a weft server"
)]
struct Cli {
    /// The database file (offline mode, when no --address is given).
    #[arg(long, global = true, default_value = "weft.redb", env = "WEFT_DB")]
    db: PathBuf,
    /// The namespace the workflow ids belong to (offline mode; over HTTP the API key decides).
    #[arg(long, short = 'n', global = true, env = "WEFT_NAMESPACE")]
    namespace: Option<String>,
    /// A weft server to send every command to, e.g. http://127.0.0.1:7233 (client mode).
    #[arg(long, global = true, env = "WEFT_ADDRESS")]
    address: Option<String>,
    /// The API key for the server: a namespace key, or the admin key for `namespace` and `key`.
    #[arg(long, global = true, env = "WEFT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Print JSON instead of text (in client mode: the server's JSON).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a weft server: the host behind the HTTP API (docs/http-api.md).
    Server(ServerCmd),
    /// Replay saved histories (files written by `weft history --export`, or directories of
    /// them) against a component, as a check of a new version before it is deployed. Prints
    /// each history's first divergence; exits 1 if any diverges.
    Replay(replay::ReplayCmd),
    /// Fuzz a workflow for determinism: run its component under a deterministic simulation
    /// of a whole host (activity faults, messages, crashes, the sticky cache on and off) case
    /// after case from a seed, checking every history (docs/simulate.md). A failing case is
    /// printed shrunk, with the command that reproduces it; exits 1.
    Simulate(simulate::SimulateCmd),
    /// Build a Python or TypeScript workflow into a component weft runs (docs/python.md,
    /// docs/typescript.md). The toolchain (componentize-py, or componentize-js and esbuild) is
    /// installed at pinned versions on first use; needs python3, or Node.js with npm.
    Build(BuildCmd),
    /// Start a workflow (client mode). Prints its run id.
    Start {
        /// Workflow type (a registered component).
        workflow_type: String,
        /// Workflow id.
        workflow_id: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// What a closed run with the same id allows.
        #[arg(long, value_enum)]
        id_reuse_policy: Option<IdReuse>,
        /// Bound on the whole execution, all runs together (ms).
        #[arg(long)]
        execution_timeout_ms: Option<u64>,
        /// Bound on one run (ms).
        #[arg(long)]
        run_timeout_ms: Option<u64>,
        /// Bound on one Workflow Task (ms).
        #[arg(long)]
        task_timeout_ms: Option<u64>,
    },
    /// Wait for a workflow's result and print it (client mode). Exits 1 if the run did not
    /// complete (failed, canceled, terminated, timed out).
    Result {
        /// Workflow id.
        workflow_id: String,
        /// How long each long poll waits on the server (ms); the command polls until the run
        /// closes.
        #[arg(long, default_value_t = 30_000)]
        wait_ms: u64,
    },
    /// Status of a workflow's current run.
    Describe {
        /// Workflow id.
        workflow_id: String,
    },
    /// Event history of a workflow's current run.
    History {
        /// Workflow id.
        workflow_id: String,
        /// Print events as they are recorded until the run closes (client mode; with --json,
        /// one event per line).
        #[arg(long)]
        follow: bool,
        /// Write the history to this file in weft's history format (docs/history-format.md),
        /// which `weft replay` reads: JSON that keeps every payload byte for byte.
        #[arg(long, conflicts_with = "follow")]
        export: Option<PathBuf>,
        /// With --export: the compact binary form instead of JSON.
        #[arg(long, requires = "export")]
        binary: bool,
    },
    /// Workflows with the status of their current run.
    List(ListCmd),
    /// Send a signal to a running workflow; with `--start TYPE`, signal-with-start: start the
    /// workflow with the signal if it is not running (offline: needs the file not held by a
    /// host).
    Signal {
        /// Workflow id.
        workflow_id: String,
        /// Signal name.
        name: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// Signal-with-start: the workflow type to start when the id is not running.
        #[arg(long)]
        start: Option<String>,
        /// Signal-with-start: the workflow's input as JSON.
        #[arg(long, default_value = "null", allow_hyphen_values = true)]
        start_input: String,
    },
    /// Request cancellation of a running workflow (offline: needs the file not held by a host).
    Cancel {
        /// Workflow id.
        workflow_id: String,
        /// Why.
        #[arg(long, default_value = "canceled from the command line")]
        reason: String,
    },
    /// Terminate a running workflow at once (offline: needs the file not held by a host).
    Terminate {
        /// Workflow id.
        workflow_id: String,
        /// Why.
        #[arg(long, default_value = "terminated from the command line")]
        reason: String,
    },
    /// Reset a workflow to a completed Workflow Task (offline mode; needs the file not held by
    /// a host): its current run is terminated if open and a new run gets the history up to
    /// that task, which runs again on the code the next host runs. Prints the new run id.
    Reset {
        /// Workflow id.
        workflow_id: String,
        /// Event id of a WorkflowTaskCompleted (default: the last good task).
        #[arg(long)]
        event: Option<u64>,
        /// Do not deliver the signals recorded after the reset point to the new run.
        #[arg(long)]
        no_reapply_signals: bool,
        /// Why.
        #[arg(long, default_value = "reset from the command line")]
        reason: String,
    },
    /// Answer a query by replaying the workflow's history with its component. Records
    /// nothing; works while a host runs. Offline it needs `--component`; a server uses the
    /// registered one.
    Query {
        /// Workflow id.
        workflow_id: String,
        /// Query name.
        name: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// The workflow's component (.wasm; offline mode only).
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Send an update: its validator runs first; an accepted update is recorded and its
    /// result printed once the handler finishes. Offline it needs `--component` and the file
    /// not held by a host (a handler waiting for work is completed by the next host).
    Update {
        /// Workflow id.
        workflow_id: String,
        /// Update name.
        name: String,
        /// Input as JSON.
        #[arg(default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// The workflow's component (.wasm; offline mode only).
        #[arg(long)]
        component: Option<PathBuf>,
        /// Update id (a repeated id is the same update).
        #[arg(long)]
        id: Option<String>,
        /// Return once the update is accepted, or once it completed (client mode).
        #[arg(long, value_enum)]
        wait_for: Option<WaitFor>,
    },
    /// Workflow components of the namespace (client mode).
    #[command(subcommand)]
    Component(ComponentCmd),
    /// Namespaces and their quotas (client mode, admin key).
    #[command(subcommand)]
    Namespace(NamespaceCmd),
    /// API keys of a namespace (client mode, admin key).
    #[command(subcommand)]
    Key(KeyCmd),
}

/// `weft server`'s flags, as [`weft_server::ServerArgs`].
#[derive(Args)]
struct ServerCmd {
    /// Directory of the databases (histories and the control database).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on, e.g. 127.0.0.1:7233 (port 0: any free port).
    #[arg(long)]
    listen: Option<String>,
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Writes history file `json` (the JSON form) to `file`, or its binary form.
fn write_history_file(json: &str, file: &std::path::Path, binary: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let bytes = if binary {
        weft::history::HistoryFile::read(json.as_bytes())?.to_binary()
    } else {
        let mut text = json.to_string();
        text.push('\n');
        text.into_bytes()
    };
    std::fs::write(file, &bytes).with_context(|| format!("writing {}", file.display()))?;
    eprintln!("wrote {} ({} bytes)", file.display(), bytes.len());
    Ok(())
}

#[derive(Args)]
struct BuildCmd {
    /// The workflow's language.
    #[arg(value_enum)]
    language: BuildLanguage,
    /// The workflow module: a .py file, or a .ts/.js file.
    source: PathBuf,
    /// The component file to write.
    #[arg(short, long)]
    out: PathBuf,
    /// Where the toolchains are installed (default: ~/.cache/weft/toolchains).
    #[arg(long, env = "WEFT_TOOLCHAIN_DIR")]
    toolchain_dir: Option<PathBuf>,
    /// Another directory Python imports modules from (pure-Python dependencies); repeatable.
    #[arg(long)]
    python_path: Vec<PathBuf>,
    /// Build even if the component is up to date with its sources.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BuildLanguage {
    Python,
    #[value(alias = "ts", alias = "javascript", alias = "js")]
    Typescript,
}

/// `weft build`: one component from one workflow module.
fn build(args: BuildCmd) -> anyhow::Result<()> {
    use weft_guest_build::{Language, PolyglotBuilder};
    let language = match args.language {
        BuildLanguage::Python => Language::Python,
        BuildLanguage::Typescript => Language::TypeScript,
    };
    if Language::of(&args.source) != Some(language) {
        return Err(usage(format!(
            "{} is not a {} source file",
            args.source.display(),
            language.name()
        )));
    }
    let dir = args
        .toolchain_dir
        .unwrap_or_else(PolyglotBuilder::default_toolchain_dir);
    let mut builder = PolyglotBuilder::new(dir).force(args.force);
    for p in args.python_path {
        builder = builder.python_path(p);
    }
    let built = builder.build(language, &args.source, &args.out)?;
    if language == Language::Python && !built.hash_seed_pinned {
        eprintln!(
            "warning: built without a C compiler (cc): Python's str hash seed, and so the \
             order of sets of strings, can differ in a rebuild of the same sources"
        );
    }
    println!(
        "{} {} ({} bytes, {:.1} s)",
        if built.rebuilt {
            "built"
        } else {
            "up to date:"
        },
        built.path.display(),
        built.bytes,
        built.seconds
    );
    Ok(())
}

#[derive(Args)]
struct ListCmd {
    /// List every namespace (offline mode).
    #[arg(long)]
    all: bool,
    /// Only runs of this status (client mode): running, completed, failed, canceled,
    /// terminated, continued_as_new, timed_out.
    #[arg(long)]
    status: Option<String>,
    /// Only this workflow type (client mode).
    #[arg(long = "type")]
    workflow_type: Option<String>,
    /// At most this many workflows per page (client mode; the server's default is 100).
    #[arg(long)]
    limit: Option<u32>,
    /// Start after this page cursor, printed by the page before (client mode).
    #[arg(long)]
    cursor: Option<String>,
    /// Follow the pages to the end (client mode).
    #[arg(long)]
    all_pages: bool,
}

#[derive(Subcommand)]
enum ComponentCmd {
    /// Register a workflow component (.wasm) under a workflow type.
    Register {
        /// Workflow type.
        workflow_type: String,
        /// The component file.
        file: PathBuf,
        /// Also move the type's open runs whose histories this version replays to it (runs
        /// otherwise stay on the version they started with).
        #[arg(long)]
        move_compatible_runs: bool,
    },
    /// Dry run of a new version: replay every open run of the type against the component
    /// and report which would diverge. Registers nothing; exits 1 if any run would diverge.
    Check {
        /// Workflow type.
        workflow_type: String,
        /// The component file.
        file: PathBuf,
    },
    /// The newest component of each workflow type.
    List,
}

#[derive(Subcommand)]
enum NamespaceCmd {
    /// Create a namespace; it is served at once.
    Create {
        /// Namespace name (1 to 64 of A-Z a-z 0-9 . _ -).
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// Every namespace with its quotas and usage.
    List,
    /// Change a namespace's quotas (only those given).
    Update {
        /// Namespace name.
        name: String,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
    /// Delete a namespace without open workflows; its keys are revoked.
    Delete {
        /// Namespace name.
        name: String,
    },
}

/// Namespace quotas; each one not given stays as it is (the host's limit for a new namespace).
#[derive(Args)]
struct QuotaArgs {
    /// Open workflows at a time.
    #[arg(long)]
    max_open_workflows: Option<u64>,
    /// Events per run history.
    #[arg(long)]
    max_history_events: Option<u64>,
    /// Bytes per run history.
    #[arg(long)]
    max_history_bytes: Option<u64>,
    /// Bytes per payload (input, result).
    #[arg(long)]
    max_payload_bytes: Option<u64>,
    /// Workflow Tasks running at a time.
    #[arg(long)]
    max_concurrent_workflow_tasks: Option<u64>,
    /// Stored history bytes of the whole namespace.
    #[arg(long)]
    max_stored_bytes: Option<u64>,
}

#[derive(Subcommand)]
// The namespace argument is `ns`: an argument named `namespace` would be the global
// `--namespace` to clap.
enum KeyCmd {
    /// Create a key for a namespace; the key is printed this once.
    Create {
        /// Namespace name.
        #[arg(value_name = "NAMESPACE")]
        ns: String,
        /// A label to recognise the key by.
        #[arg(long)]
        label: Option<String>,
    },
    /// The keys of a namespace (ids and labels, never the keys).
    List {
        /// Namespace name.
        #[arg(value_name = "NAMESPACE")]
        ns: String,
    },
    /// Revoke a key.
    Revoke {
        /// Namespace name.
        #[arg(value_name = "NAMESPACE")]
        ns: String,
        /// The key's id (from `key list`).
        key_id: String,
    },
}

/// Workflow id reuse policies.
#[derive(Clone, Copy, clap::ValueEnum)]
enum IdReuse {
    /// A new run may start after any close (the default).
    AllowDuplicate,
    /// A new run may start only if the last one did not complete successfully.
    AllowDuplicateFailedOnly,
    /// The id may never be used again.
    RejectDuplicate,
}

impl IdReuse {
    fn wire(self) -> &'static str {
        match self {
            IdReuse::AllowDuplicate => "allow_duplicate",
            IdReuse::AllowDuplicateFailedOnly => "allow_duplicate_failed_only",
            IdReuse::RejectDuplicate => "reject_duplicate",
        }
    }
}

/// What an update waits for.
#[derive(Clone, Copy, clap::ValueEnum)]
enum WaitFor {
    /// The validator accepted the update.
    Accepted,
    /// The handler finished (the default).
    Completed,
}

impl WaitFor {
    fn wire(self) -> &'static str {
        match self {
            WaitFor::Accepted => "accepted",
            WaitFor::Completed => "completed",
        }
    }
}

/// A command called the wrong way (exit code 2), such as one that exists only in the other
/// mode.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error naming what is wrong.
fn usage(message: impl Into<String>) -> anyhow::Error {
    Usage(message.into()).into()
}

/// Runs the `weft` command line with the process's arguments and exits with its code.
pub fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Cmd::Server(args) => server::run(args),
        Cmd::Build(args) => build(args),
        Cmd::Replay(args) => replay::replay(args, cli.namespace.as_deref()),
        Cmd::Simulate(args) => simulate::simulate(args),
        // An empty WEFT_ADDRESS counts as none.
        command => match cli.address.as_deref().filter(|a| !a.trim().is_empty()) {
            Some(address) => check_remote_namespace(cli.namespace.as_deref())
                .and_then(|()| remote::run(address, cli.api_key.as_deref(), command, cli.json)),
            None => offline::run(
                &cli.db,
                cli.namespace.as_deref().unwrap_or("default"),
                command,
                cli.json,
            ),
        },
    };
    if let Err(e) = outcome {
        eprintln!("error: {e:#}");
        let code = if e.downcast_ref::<Usage>().is_some() {
            2
        } else {
            1
        };
        std::process::exit(code);
    }
}

/// Over HTTP the key picks the namespace; a different `--namespace` would be silently ignored.
fn check_remote_namespace(namespace: Option<&str>) -> anyhow::Result<()> {
    match namespace {
        Some(ns) if ns != "default" => Err(usage(format!(
            "--namespace {ns} is for offline mode; over HTTP the API key decides the namespace (create one with `weft namespace create` and `weft key create`)"
        ))),
        _ => Ok(()),
    }
}

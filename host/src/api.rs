//! The host library API: build a host from workflow components and activities, start
//! workflows, wait for results, inspect them. Also the background loops that run Workflow
//! Tasks, activities and timers.
//!
//! This module owns scheduling (what runs when); `workflow_task`, `activity` and `store` own
//! what a task does and what it commits.

use crate::activity::{self, ActivityContext, ActivityError, ActivityFn, AttemptParts};
use crate::fair::FairShare;
use crate::history::{
    Event, EventKind, Failure, IdReusePolicy, Payload, RetryPolicy, WorkflowOptions,
};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use crate::limits::Limits;
use crate::nexus::{self, NexusContext, NexusError, NexusHandler, NexusStart};
use crate::replay::{QueryRequest, ReplayMode, Served, UpdateRequest, UpdateState};
use crate::sandbox::{AdmissionError, CompiledWorkflow, Sandbox};
use crate::store::{
    Effects, HeartbeatAck, LeasedActivity, LeasedNexus, NamespaceLimits, NamespaceUsage,
    NexusCallback, NexusOutcome, NexusReport, NexusTaskKind, ResetRequest, RunRecord, RunStatus,
    StartQuota, StartRequest, Store, StoreError, queue_key,
};
use crate::workflow_task::{
    Cache, TaskEnv, TaskOutcome, TaskProbe, now_ms, run_query, run_update_task, run_workflow_task,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

/// Errors of the host API.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The database reported an error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A workflow component was refused.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// Start was asked for a type no component was registered for.
    #[error("unknown workflow type '{0}'; registered types: {1}")]
    UnknownWorkflowType(String, String),
    /// An input or result was too large.
    #[error("{what} is {size} bytes, above the payload limit of {limit} bytes")]
    PayloadTooLarge {
        /// What was too large.
        what: String,
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A replay did not reach the recorded end.
    #[error("replay diverged from the recorded history: {0}")]
    ReplayDiverged(String),
    /// The engine could not be set up.
    #[error("engine setup failed: {0}")]
    Engine(String),
    /// The API key is not valid on this host.
    #[error("the API key is not valid on this host")]
    Unauthorized,
    /// No namespace of this name is configured on this host.
    #[error("namespace '{0}' is not configured on this host")]
    UnknownNamespace(String),
    /// No pending asynchronous Nexus operation has this token.
    #[error("no pending Nexus operation with token '{0}' in this namespace")]
    UnknownNexusOperation(String),
    /// The workflow's validator rejected the update; nothing was recorded.
    #[error("update rejected: {0}")]
    UpdateRejected(Failure),
    /// The update's handler failed.
    #[error("update failed: {0}")]
    UpdateFailed(Failure),
    /// The query could not be answered, or its handler failed.
    #[error("query failed: {0}")]
    QueryFailed(String),
    /// The Workflow Task that was to deliver an update failed (the workflow's code is broken
    /// for its history); the execution stays open.
    #[error("the workflow task failed: {0}")]
    WorkflowTaskFailed(String),
}

/// Options of a workflow start. Timeouts and the retry policy mean what Temporal's do.
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Maximum time of the whole execution, over retries and continue-as-new runs; it then
    /// ends as timed out.
    pub execution_timeout: Option<Duration>,
    /// Maximum time of one run; a run passing it times out (and is retried if the retry
    /// policy allows).
    pub run_timeout: Option<Duration>,
    /// Maximum time of one Workflow Task (capped by the host's task time limit, `Limits::max_task_time`).
    pub task_timeout: Option<Duration>,
    /// Retry policy of the execution: a failed or timed-out run starts again as a new run of
    /// the same id after the policy's backoff. Default: not retried.
    pub retry_policy: Option<RetryPolicy>,
    /// Whether the id may be started again after this execution closes.
    pub id_reuse_policy: IdReusePolicy,
}

impl StartOptions {
    fn workflow_options(&self) -> Result<WorkflowOptions, HostError> {
        let ms = |d: Option<Duration>| d.map(|d| d.as_millis().max(1) as u64);
        let retry_policy = self
            .retry_policy
            .as_ref()
            .map(RetryPolicy::checked)
            .transpose()
            .map_err(HostError::InvalidArgument)?;
        Ok(WorkflowOptions {
            execution_timeout_ms: ms(self.execution_timeout),
            run_timeout_ms: ms(self.run_timeout),
            task_timeout_ms: ms(self.task_timeout),
            retry_policy,
        })
    }
}

/// Holds a run for one task at a time (shared with the workflow-task loop).
struct RunGuard {
    inner: Arc<Inner>,
    run: RunId,
    token: u64,
}

impl RunGuard {
    async fn acquire(inner: &Arc<Inner>, run: RunId) -> RunGuard {
        let mut rx = inner.wake.subscribe();
        loop {
            if let Some(token) = inner.claim(run) {
                return RunGuard {
                    inner: inner.clone(),
                    run,
                    token,
                };
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), rx.changed()).await;
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.inner.release(self.run, self.token);
        self.inner.bump();
    }
}

enum ComponentSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// Quotas of one namespace. `None` leaves the host's limit (see [`Limits`]); a quota cannot
/// raise a host limit.
#[derive(Clone, Debug, Default)]
pub struct Quotas {
    /// Most open (running) workflows. Starting one more fails with a quota error.
    pub max_open_workflows: Option<u64>,
    /// Most events in one run's history; a run that would pass it is terminated.
    pub max_history_events: Option<u64>,
    /// Largest encoded history of one run, bytes; a run that would pass it is terminated.
    pub max_history_bytes: Option<u64>,
    /// Largest payload (inputs and results of workflows and activities).
    pub max_payload_bytes: Option<usize>,
    /// Workflow Tasks of this namespace run at once.
    pub max_concurrent_workflow_tasks: Option<usize>,
    /// Most history bytes stored for the namespace. Starting a workflow above it fails with a
    /// quota error; running workflows continue, within their history limits.
    pub max_stored_bytes: Option<u64>,
}

/// The workflow components, activities, quotas and API keys of one namespace.
#[derive(Default)]
pub struct NamespaceBuilder {
    quotas: Quotas,
    workflows: Vec<(String, ComponentSource)>,
    activities: HashMap<String, ActivityFn>,
    api_keys: Vec<String>,
    task_queues: BTreeMap<String, usize>,
    nexus: HashMap<(String, String, String), NexusHandler>,
    replay_mode: ReplayMode,
    replay_modes: HashMap<String, ReplayMode>,
}

impl NamespaceBuilder {
    /// Sets how replay compares the commands of this namespace's workflows with their recorded
    /// events. [`ReplayMode::Lenient`] (the default, as Temporal) checks kind and identity
    /// only; [`ReplayMode::Strict`] also compares inputs, timeouts, retry policies, task
    /// queues, timer durations and child options, and fails the Workflow Task
    /// (non-determinism) on any difference. [`NamespaceBuilder::replay_mode_for`] overrides it
    /// per workflow type.
    pub fn replay_mode(mut self, mode: ReplayMode) -> Self {
        self.replay_mode = mode;
        self
    }

    /// Sets the replay mode of workflow type `workflow_type` in this namespace, overriding
    /// [`NamespaceBuilder::replay_mode`]: `.replay_mode_for("payment", ReplayMode::Strict)`.
    pub fn replay_mode_for(mut self, workflow_type: &str, mode: ReplayMode) -> Self {
        self.replay_modes.insert(workflow_type.to_string(), mode);
        self
    }

    /// Serves activity task queue `name` with at most `max_concurrent` activities of it
    /// running at once on this host. The `default` queue is always served (with the host's
    /// `max_concurrent_activities` unless set here); a workflow naming a queue the namespace
    /// does not serve fails its Workflow Task.
    pub fn task_queue(mut self, name: &str, max_concurrent: usize) -> Self {
        self.task_queues
            .insert(name.to_string(), max_concurrent.max(1));
        self
    }

    /// Registers Nexus operation `operation` of `service` at `endpoint`: `start` returns a
    /// synchronous result or an operation token. Starts are delivered at least once with the
    /// same [`NexusContext::request_id`]; the handler must not start twice for one request id.
    pub fn nexus_operation<I, O, F, Fut>(
        mut self,
        endpoint: &str,
        service: &str,
        operation: &str,
        start: F,
    ) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(NexusContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<NexusStart<O>, NexusError>> + Send + 'static,
    {
        let key = (
            endpoint.to_string(),
            service.to_string(),
            operation.to_string(),
        );
        let cancel = match self.nexus.remove(&key) {
            Some(NexusHandler::Custom { cancel, .. }) => cancel,
            _ => None,
        };
        self.nexus.insert(
            key,
            NexusHandler::Custom {
                start: nexus::erase_start(start),
                cancel,
            },
        );
        self
    }

    /// Registers the cancel handler of an asynchronous operation registered with
    /// [`NamespaceBuilder::nexus_operation`]: called with its token when the caller cancels.
    pub fn nexus_cancel<F, Fut>(
        mut self,
        endpoint: &str,
        service: &str,
        operation: &str,
        cancel: F,
    ) -> Self
    where
        F: Fn(NexusContext, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), NexusError>> + Send + 'static,
    {
        let key = (
            endpoint.to_string(),
            service.to_string(),
            operation.to_string(),
        );
        if let Some(NexusHandler::Custom { cancel: c, .. }) = self.nexus.get_mut(&key) {
            *c = Some(nexus::erase_cancel(cancel));
        }
        self
    }

    /// Registers a built-in operation that starts workflow type `workflow_type` of this
    /// namespace with the operation's input, as an asynchronous operation that completes when
    /// the workflow closes. The workflow id is derived from the request id, so a repeated
    /// start finds the workflow it started before instead of starting another; canceling the
    /// operation ends the workflow.
    pub fn nexus_workflow_operation(
        mut self,
        endpoint: &str,
        service: &str,
        operation: &str,
        workflow_type: &str,
    ) -> Self {
        self.nexus.insert(
            (
                endpoint.to_string(),
                service.to_string(),
                operation.to_string(),
            ),
            NexusHandler::Workflow {
                workflow_type: workflow_type.to_string(),
            },
        );
        self
    }

    /// Registers the component file at `path` as workflow type `workflow_type`.
    pub fn workflow_file(mut self, workflow_type: &str, path: impl AsRef<Path>) -> Self {
        self.workflows.push((
            workflow_type.to_string(),
            ComponentSource::File(path.as_ref().to_path_buf()),
        ));
        self
    }

    /// Registers component bytes as workflow type `workflow_type`.
    pub fn workflow_bytes(mut self, workflow_type: &str, bytes: Vec<u8>) -> Self {
        self.workflows
            .push((workflow_type.to_string(), ComponentSource::Bytes(bytes)));
        self
    }

    /// Registers an activity: an async function of a JSON-deserializable input returning a
    /// JSON-serializable result or an [`ActivityError`].
    pub fn activity<I, O, F, Fut>(mut self, activity_type: &str, f: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ActivityError>> + Send + 'static,
    {
        self.activities
            .insert(activity_type.to_string(), activity::erase(f));
        self
    }

    /// Sets the namespace's quotas.
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Binds API key `key` to this namespace: [`Host::client`] with it reaches this namespace
    /// and nothing else.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_keys.push(key.to_string());
        self
    }
}

/// Configures a [`Host`]: the database file, namespaces with their workflow components,
/// activities, quotas and API keys, and the host's limits. The `workflow_*` and `activity`
/// methods register in the `default` namespace.
///
/// ```no_run
/// # async fn demo() -> Result<(), weft::HostError> {
/// use weft::{ActivityContext, ActivityError, HostBuilder};
/// let host = HostBuilder::new("orders.redb")
///     .workflow_file("order", "order_workflow.wasm")
///     .activity("charge_card", |_ctx: ActivityContext, amount: u64| async move {
///         Ok::<_, ActivityError>(format!("charged {amount}"))
///     })
///     .start()
///     .await?;
/// host.start_workflow("order", "order-1", serde_json::json!({"amount": 5})).await?;
/// let outcome = host.result("order-1").await?;
/// # Ok(()) }
/// ```
pub struct HostBuilder {
    db_path: PathBuf,
    limits: Limits,
    namespaces: BTreeMap<String, NamespaceBuilder>,
}

impl HostBuilder {
    /// A host on the database file `db_path` (created if missing).
    pub fn new(db_path: impl AsRef<Path>) -> HostBuilder {
        HostBuilder {
            db_path: db_path.as_ref().to_path_buf(),
            limits: Limits::default(),
            namespaces: BTreeMap::new(),
        }
    }

    /// Replaces the default limits.
    pub fn limits(mut self, limits: Limits) -> HostBuilder {
        self.limits = limits;
        self
    }

    /// Configures namespace `name` (valid names: see [`Namespace::new`]).
    pub fn namespace(
        mut self,
        name: &str,
        configure: impl FnOnce(NamespaceBuilder) -> NamespaceBuilder,
    ) -> HostBuilder {
        let ns = self.namespaces.remove(name).unwrap_or_default();
        self.namespaces.insert(name.to_string(), configure(ns));
        self
    }

    /// Registers the component file at `path` as workflow type `workflow_type` in the default
    /// namespace.
    pub fn workflow_file(self, workflow_type: &str, path: impl AsRef<Path>) -> HostBuilder {
        self.namespace(Namespace::DEFAULT, |ns| {
            ns.workflow_file(workflow_type, path)
        })
    }

    /// Registers component bytes as workflow type `workflow_type` in the default namespace.
    pub fn workflow_bytes(self, workflow_type: &str, bytes: Vec<u8>) -> HostBuilder {
        self.namespace(Namespace::DEFAULT, |ns| {
            ns.workflow_bytes(workflow_type, bytes)
        })
    }

    /// Registers an activity in the default namespace: an async function of a
    /// JSON-deserializable input returning a JSON-serializable result or an
    /// [`ActivityError`].
    pub fn activity<I, O, F, Fut>(self, activity_type: &str, f: F) -> HostBuilder
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ActivityError>> + Send + 'static,
    {
        self.namespace(Namespace::DEFAULT, |ns| ns.activity(activity_type, f))
    }

    /// Compiles the components (each once), opens the database and starts the background
    /// loops. Every open workflow in the database continues from its history.
    pub async fn start(self) -> Result<Host, HostError> {
        let HostBuilder {
            db_path,
            limits,
            mut namespaces,
        } = self;
        namespaces
            .entry(Namespace::DEFAULT.to_string())
            .or_default();
        let mut api_keys = HashMap::new();
        let mut specs = Vec::new();
        for (name, b) in namespaces {
            let ns = Namespace::new(&name).map_err(HostError::InvalidArgument)?;
            for key in &b.api_keys {
                if key.len() < 16 {
                    return Err(HostError::InvalidArgument(format!(
                        "an API key of namespace {ns} has {} characters; use at least 16",
                        key.len()
                    )));
                }
                if api_keys.insert(key.clone(), ns.clone()).is_some() {
                    return Err(HostError::InvalidArgument(
                        "the same API key is bound to two namespaces".into(),
                    ));
                }
            }
            specs.push((ns, b));
        }
        let lim = limits.clone();
        let (store, sandbox, namespaces) = tokio::task::spawn_blocking(move || {
            let sandbox =
                Sandbox::new(lim.clone()).map_err(|e| HostError::Engine(format!("{e:#}")))?;
            let mut out = HashMap::new();
            for (ns, b) in specs {
                let mut compiled = HashMap::new();
                for (ty, src) in b.workflows {
                    let c = match src {
                        ComponentSource::File(p) => sandbox.compile_file(&ty, &p)?,
                        ComponentSource::Bytes(b) => sandbox.compile(&ty, &b)?,
                    };
                    compiled.insert(ty, c);
                }
                let mut rt = NamespaceRt::new(ns.clone(), &lim, &b.quotas, compiled, b.activities);
                rt.queues.extend(b.task_queues);
                rt.nexus = b.nexus;
                rt.served = Arc::new(Served {
                    task_queues: rt.queues.keys().cloned().collect(),
                    nexus_operations: rt.nexus.keys().cloned().collect(),
                    replay_mode: b.replay_mode,
                    replay_modes: b.replay_modes,
                });
                out.insert(ns, rt);
            }
            // The store checks each namespace's history limits and quotas in the transaction
            // that would pass them; a namespace not configured here gets the host's limits.
            let store = Store::open(&db_path, now_ms())?.with_limits(
                NamespaceLimits::host(&lim),
                out.iter()
                    .map(|(ns, rt)| (ns.clone(), rt.store_limits()))
                    .collect(),
            );
            Ok::<_, HostError>((store, sandbox, out))
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        let (wake, _) = watch::channel(0u64);
        let (stop, _) = watch::channel(false);
        let unserved = NamespaceRt::new(
            Namespace::default_namespace(),
            &limits,
            &Quotas {
                max_concurrent_workflow_tasks: Some(1),
                ..Quotas::default()
            },
            HashMap::new(),
            HashMap::new(),
        );
        let cache = (limits.sticky_cache_entries > 0).then(|| {
            Cache::new(
                limits.sticky_cache_entries,
                limits.sticky_cache_memory_bytes,
            )
        });
        let inner = Arc::new(Inner {
            store,
            sandbox,
            namespaces,
            unserved,
            api_keys,
            clients: Default::default(),
            workflow_task_slots: FairShare::new(limits.max_concurrent_workflow_tasks),
            activity_slots: FairShare::new(limits.max_concurrent_activities),
            nexus_slots: FairShare::new(limits.max_concurrent_activities),
            limits,
            wake,
            in_flight: Mutex::new(HashMap::new()),
            next_claim: std::sync::atomic::AtomicU64::new(1),
            running: Mutex::new(HashMap::new()),
            cache,
        });
        let mut loops = vec![
            tokio::spawn(workflow_task_loop(inner.clone(), stop.subscribe())),
            tokio::spawn(timer_loop(inner.clone(), stop.subscribe())),
            tokio::spawn(nexus_loop(inner.clone(), stop.subscribe())),
        ];
        for (ns, rt) in &inner.namespaces {
            for (queue, max) in &rt.queues {
                loops.push(tokio::spawn(activity_loop(
                    inner.clone(),
                    ns.clone(),
                    queue.clone(),
                    *max,
                    stop.subscribe(),
                )));
            }
        }
        info!(db = %inner.store.path().display(), "weft host started");
        Ok(Host { inner, stop, loops })
    }
}

/// A namespace as the running host serves it.
struct NamespaceRt {
    workflows: RwLock<HashMap<String, CompiledWorkflow>>,
    activities: HashMap<String, ActivityFn>,
    /// The host's limits with the namespace's quotas applied.
    limits: Limits,
    start_quota: StartQuota,
    task_permits: Arc<Semaphore>,
    /// Served activity queues and their concurrency.
    queues: BTreeMap<String, usize>,
    nexus: HashMap<(String, String, String), NexusHandler>,
    served: Arc<Served>,
}

impl NamespaceRt {
    /// What the store enforces for this namespace.
    fn store_limits(&self) -> NamespaceLimits {
        NamespaceLimits {
            start: self.start_quota,
            ..NamespaceLimits::host(&self.limits)
        }
    }

    fn workflows(&self) -> HashMap<String, CompiledWorkflow> {
        self.workflows.read().expect("workflows lock").clone()
    }

    fn new(
        _ns: Namespace,
        host: &Limits,
        q: &Quotas,
        workflows: HashMap<String, CompiledWorkflow>,
        activities: HashMap<String, ActivityFn>,
    ) -> NamespaceRt {
        let mut limits = host.clone();
        if let Some(v) = q.max_history_events {
            limits.max_history_events = v.min(host.max_history_events);
        }
        if let Some(v) = q.max_history_bytes {
            limits.max_history_bytes = v.min(host.max_history_bytes);
        }
        if let Some(v) = q.max_payload_bytes {
            limits.max_payload_bytes = v.min(host.max_payload_bytes);
        }
        let tasks = q
            .max_concurrent_workflow_tasks
            .unwrap_or(host.max_concurrent_workflow_tasks)
            .clamp(1, host.max_concurrent_workflow_tasks.max(1));
        NamespaceRt {
            workflows: RwLock::new(workflows),
            activities,
            limits,
            start_quota: StartQuota {
                max_open_workflows: q.max_open_workflows.unwrap_or(u64::MAX),
                max_stored_bytes: q.max_stored_bytes.unwrap_or(u64::MAX),
            },
            task_permits: Arc::new(Semaphore::new(tasks)),
            queues: BTreeMap::from([(
                crate::history::DEFAULT_TASK_QUEUE.to_string(),
                host.max_concurrent_activities.max(1),
            )]),
            nexus: HashMap::new(),
            served: Arc::new(Served {
                task_queues: HashSet::from([crate::history::DEFAULT_TASK_QUEUE.to_string()]),
                nexus_operations: HashSet::new(),
                ..Served::default()
            }),
        }
    }
}

struct Inner {
    store: Store,
    sandbox: Sandbox,
    namespaces: HashMap<Namespace, NamespaceRt>,
    /// Stands in for a namespace found in the database but not configured on this host: its
    /// tasks fail with a clear message until it is configured again.
    unserved: NamespaceRt,
    api_keys: HashMap<String, Namespace>,
    /// Live [`Client`]s (each holds the host).
    clients: std::sync::atomic::AtomicUsize,
    limits: Limits,
    wake: watch::Sender<u64>,
    /// Runs with a task in flight, each with the token of the claim that holds it.
    in_flight: Mutex<HashMap<RunId, u64>>,
    next_claim: std::sync::atomic::AtomicU64,
    /// The host's Workflow Task, activity and Nexus slots, shared fairly between namespaces.
    workflow_task_slots: Arc<FairShare>,
    activity_slots: Arc<FairShare>,
    nexus_slots: Arc<FairShare>,
    /// Cancel signals of running activity attempts.
    running: Mutex<HashMap<(RunId, crate::ids::EventId), watch::Sender<bool>>>,
    /// Suspended workflow instances (none when the cache is off).
    cache: Option<Cache>,
}

impl Inner {
    fn ns(&self, ns: &Namespace) -> &NamespaceRt {
        self.namespaces.get(ns).unwrap_or(&self.unserved)
    }

    /// Acts on what a commit changed: tells running activities about cancel requests and
    /// wakes the loops.
    fn apply(&self, fx: &Effects) {
        if !fx.cancel_activities.is_empty() {
            let running = self.running.lock().expect("running lock");
            for key in &fx.cancel_activities {
                if let Some(tx) = running.get(key) {
                    let _ = tx.send(true);
                }
            }
        }
        self.bump();
    }

    /// Holds `run` for one task; `None` if a task of it is in flight.
    fn claim(&self, run: RunId) -> Option<u64> {
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        if in_flight.contains_key(&run) {
            return None;
        }
        let token = self
            .next_claim
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        in_flight.insert(run, token);
        Some(token)
    }

    /// Releases the claim `token` on `run` (a later claim is left alone).
    fn release(&self, run: RunId, token: u64) {
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        if in_flight.get(&run) == Some(&token) {
            in_flight.remove(&run);
        }
    }

    /// Runs `f` with what a task of namespace `ns` needs.
    fn with_env<T>(&self, ns: &Namespace, f: impl FnOnce(&TaskEnv<'_>) -> T) -> T {
        self.with_env_probe(ns, None, f)
    }

    /// [`Inner::with_env`] for a task a watchdog may give up on.
    fn with_env_probe<T>(
        &self,
        ns: &Namespace,
        probe: Option<&TaskProbe>,
        f: impl FnOnce(&TaskEnv<'_>) -> T,
    ) -> T {
        let rt = self.ns(ns);
        let workflows = rt.workflows();
        f(&TaskEnv {
            store: &self.store,
            sandbox: &self.sandbox,
            workflows: &workflows,
            limits: &rt.limits,
            served: &rt.served,
            cache: self.cache.as_ref(),
            probe,
        })
    }

    fn bump(&self) {
        self.wake.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// How a closed workflow ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkflowOutcome {
    /// It returned this result (JSON).
    Completed(serde_json::Value),
    /// It returned this failure.
    Failed(Failure),
}

/// Status of a workflow, as `weft describe` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowDescription {
    /// Namespace.
    pub namespace: String,
    /// Workflow id.
    pub workflow_id: String,
    /// Current run.
    pub run_id: String,
    /// Registered type.
    pub workflow_type: String,
    /// Running, Completed, Failed or Terminated.
    pub status: RunStatus,
    /// Start time, ms since the epoch.
    pub start_ms: u64,
    /// Close time, ms since the epoch.
    pub close_ms: Option<u64>,
    /// Events in the history.
    pub history_length: u64,
    /// Attempt of the pending Workflow Task, if one is pending.
    pub pending_workflow_task_attempt: Option<u32>,
    /// Why the last Workflow Task failed, while failures continue.
    pub last_workflow_task_failure: Option<String>,
    /// Attempt of the execution (1 unless its retry policy started it again).
    pub attempt: u32,
    /// Runs of this execution, first to current (continue-as-new and retries).
    pub run_chain: Vec<String>,
    /// The parent's workflow id, for a child workflow.
    pub parent_workflow_id: Option<String>,
    /// Open children started by this run.
    pub open_children: Vec<String>,
    /// A cancel request is recorded.
    pub cancel_requested: bool,
}

impl WorkflowDescription {
    /// Builds the description of `run`.
    pub fn new(run: RunId, rec: &RunRecord) -> WorkflowDescription {
        WorkflowDescription {
            namespace: rec.namespace.to_string(),
            workflow_id: rec.workflow_id.0.clone(),
            run_id: run.to_string(),
            workflow_type: rec.workflow_type.clone(),
            status: rec.status,
            start_ms: rec.start_ms,
            close_ms: rec.close_ms,
            history_length: rec.next_event_id - 1,
            pending_workflow_task_attempt: rec.workflow_task.as_ref().map(|t| t.attempt),
            last_workflow_task_failure: rec
                .workflow_task
                .as_ref()
                .and_then(|t| t.last_failure.clone()),
            attempt: rec.attempt,
            run_chain: vec![run.to_string()],
            parent_workflow_id: rec.parent.as_ref().map(|p| p.workflow_id.0.clone()),
            open_children: rec
                .children
                .iter()
                .map(|c| c.workflow_id.0.clone())
                .collect(),
            cancel_requested: rec.cancel_requested,
        }
    }

    /// Fills in the run chain by following each run's predecessor with `lookup`.
    pub fn with_chain(
        mut self,
        rec: &RunRecord,
        lookup: impl Fn(RunId) -> Option<RunRecord>,
    ) -> WorkflowDescription {
        let mut prev = rec.previous_run;
        // Bounded: a chain is as long as the runs it made, but never trust stored links blindly.
        while let Some(p) = prev
            && self.run_chain.len() < 10_000
        {
            self.run_chain.insert(0, p.to_string());
            prev = lookup(p).and_then(|r| r.previous_run);
        }
        self
    }
}

/// A running weft host. Dropping it stops the background loops and closes the database;
/// [`Host::shutdown`] also waits for them and for Workflow Tasks under way first.
pub struct Host {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl Host {
    fn clients_alive(&self) -> usize {
        self.inner.clients.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counters of the sticky cache (all zero when it is off).
    pub fn cache_stats(&self) -> crate::sticky::CacheStats {
        self.inner
            .cache
            .as_ref()
            .map(|c| c.stats())
            .unwrap_or_default()
    }

    /// A client of the namespace API key `api_key` is bound to. It reaches that namespace
    /// only.
    pub fn client(&self, api_key: &str) -> Result<Client, HostError> {
        let namespace = self
            .inner
            .api_keys
            .get(api_key)
            .ok_or(HostError::Unauthorized)?
            .clone();
        Ok(Client::new(self.inner.clone(), namespace))
    }

    /// A client of namespace `name`, for the operator who built the host.
    pub fn namespace(&self, name: &str) -> Result<Client, HostError> {
        let namespace = Namespace::new(name).map_err(HostError::InvalidArgument)?;
        if !self.inner.namespaces.contains_key(&namespace) {
            return Err(HostError::UnknownNamespace(name.to_string()));
        }
        Ok(Client::new(self.inner.clone(), namespace))
    }

    fn default_client(&self) -> Client {
        Client::new(self.inner.clone(), Namespace::default_namespace())
    }

    /// [`Client::start_workflow`] in the default namespace.
    pub async fn start_workflow(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
    ) -> Result<RunId, HostError> {
        self.default_client()
            .start_workflow(workflow_type, id, input)
            .await
    }

    /// [`Client::start_workflow_payload`] in the default namespace.
    pub async fn start_workflow_payload(
        &self,
        workflow_type: &str,
        id: &str,
        input: Payload,
    ) -> Result<RunId, HostError> {
        self.default_client()
            .start_workflow_payload(workflow_type, id, input)
            .await
    }

    /// [`Client::result`] in the default namespace.
    pub async fn result(&self, id: &str) -> Result<WorkflowOutcome, HostError> {
        self.default_client().result(id).await
    }

    /// [`Client::reset`] in the default namespace.
    pub async fn reset(&self, id: &str, options: ResetOptions) -> Result<RunId, HostError> {
        self.default_client().reset(id, options).await
    }

    /// [`Client::describe`] in the default namespace.
    pub fn describe(&self, id: &str) -> Result<WorkflowDescription, HostError> {
        self.default_client().describe(id)
    }

    /// [`Client::history`] in the default namespace.
    pub fn history(&self, id: &str) -> Result<Vec<Event>, HostError> {
        self.default_client().history(id)
    }

    /// [`Client::verify_replay`] in the default namespace.
    pub fn verify_replay(&self, id: &str) -> Result<(), HostError> {
        self.default_client().verify_replay(id)
    }

    /// Stops the loops, waits for them and for Workflow Tasks already under way (at most
    /// 5 s), then closes the database file cleanly: on return, the next open (a host, or a
    /// read-only `weft list`) finds nothing to recover. Running activities are abandoned; their
    /// leases are released when the database is next opened, so they run again. Clients still
    /// held, even by handlers this host runs, fail with [`StoreError::Closed`] afterwards.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for l in self.loops.drain(..) {
            let _ = l.await;
        }
        // Let Workflow Tasks already running on blocking threads finish their commit, and
        // aborted activity tasks release the host.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.inner) > 1 + self.clients_alive() {
            if std::time::Instant::now() > deadline {
                warn!("host shutdown: tasks still running are cut off from the database");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Closed here, not when the last `Arc<Inner>` goes: a `Client` kept by a handler the
        // host owns (a Nexus handler completing its operations later, say) is a cycle that
        // would keep the file open until the process exits, and leave it to be recovered.
        self.inner.store.close();
        info!(db = %self.inner.store.path().display(), "weft host shut down");
    }
}

/// How [`Client::reset`] resets a workflow.
#[derive(Clone, Debug)]
pub struct ResetOptions {
    /// The event id of a WorkflowTaskCompleted of the current run; `None` (the default) picks
    /// the last good task: the last one before the failing series of tasks that ends the
    /// history, else the last completed one.
    pub event_id: Option<u64>,
    /// Deliver the signals recorded after the reset point to the new run (default true).
    pub reapply_signals: bool,
    /// Why, recorded in both runs.
    pub reason: String,
}

impl Default for ResetOptions {
    fn default() -> ResetOptions {
        ResetOptions {
            event_id: None,
            reapply_signals: true,
            reason: "reset".to_string(),
        }
    }
}

/// Access to one namespace: from [`Host::client`] (an API key) or [`Host::namespace`]. Ids are
/// looked up in that namespace only; a workflow of another namespace is reported unknown.
/// A client keeps the host's memory alive until it is dropped; it can no longer reach the
/// database once the host is shut down or dropped.
pub struct Client {
    inner: Arc<Inner>,
    namespace: Namespace,
}

impl Client {
    fn new(inner: Arc<Inner>, namespace: Namespace) -> Client {
        inner
            .clients
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Client { inner, namespace }
    }
}

impl Clone for Client {
    fn clone(&self) -> Client {
        Client::new(self.inner.clone(), self.namespace.clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner
            .clients
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Client {
    fn rt(&self) -> &NamespaceRt {
        self.inner.ns(&self.namespace)
    }

    /// The namespace this client reaches.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// Registers (or replaces) the component of workflow type `workflow_type` in this
    /// namespace while the host runs. The component is checked like at start (size, validity,
    /// imports, world); a refused component changes nothing. Runs of the type continue with the
    /// new component from their next Workflow Task.
    pub async fn register_workflow(
        &self,
        workflow_type: &str,
        component: Vec<u8>,
    ) -> Result<(), HostError> {
        if workflow_type.is_empty() || workflow_type.len() > 1000 {
            return Err(HostError::InvalidArgument(format!(
                "workflow type must have 1 to 1000 bytes, got {}",
                workflow_type.len()
            )));
        }
        let inner = self.inner.clone();
        let ty = workflow_type.to_string();
        let compiled = tokio::task::spawn_blocking(move || inner.sandbox.compile(&ty, &component))
            .await
            .map_err(|e| HostError::Engine(e.to_string()))??;
        let rt = self
            .inner
            .namespaces
            .get(&self.namespace)
            .ok_or_else(|| HostError::UnknownNamespace(self.namespace.to_string()))?;
        rt.workflows
            .write()
            .expect("workflows lock")
            .insert(workflow_type.to_string(), compiled);
        info!(namespace = %self.namespace, workflow_type, "workflow component registered");
        self.inner.bump();
        Ok(())
    }

    /// Completes the started asynchronous Nexus operation `operation_token` of this namespace
    /// (the completion callback its handler promised): the caller's history records
    /// NexusOperationCompleted, Failed or Canceled.
    pub async fn complete_nexus_operation(
        &self,
        operation_token: &str,
        outcome: NexusOutcome,
    ) -> Result<(), HostError> {
        let inner = self.inner.clone();
        let ns = self.namespace.clone();
        let token = operation_token.to_string();
        let done = tokio::task::spawn_blocking(move || {
            inner.store.complete_nexus(&ns, &token, outcome, now_ms())
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        if !done {
            return Err(HostError::UnknownNexusOperation(
                operation_token.to_string(),
            ));
        }
        self.inner.bump();
        Ok(())
    }

    /// Open workflows and stored bytes of the namespace.
    pub fn usage(&self) -> Result<NamespaceUsage, HostError> {
        Ok(self.inner.store.usage(&self.namespace)?)
    }

    /// Starts workflow `id` of `workflow_type` with a JSON input. Fails if a workflow with
    /// this id is running in the namespace, the type is unknown, the input is above the payload
    /// limit or a namespace quota is reached.
    pub async fn start_workflow(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
    ) -> Result<RunId, HostError> {
        self.start_workflow_payload(workflow_type, id, Payload::json(&input))
            .await
    }

    /// Like [`Client::start_workflow`] with an already encoded payload.
    pub async fn start_workflow_payload(
        &self,
        workflow_type: &str,
        id: &str,
        input: Payload,
    ) -> Result<RunId, HostError> {
        self.start(workflow_type, id, input, &StartOptions::default(), None)
            .await
            .map(|(run, _)| run)
    }

    /// Waits until workflow `id`'s current run closes and returns how it ended.
    pub async fn result(&self, id: &str) -> Result<WorkflowOutcome, HostError> {
        let mut rx = self.inner.wake.subscribe();
        let id = WorkflowId(id.to_string());
        loop {
            rx.borrow_and_update();
            let (run, rec) = self.inner.store.current_run(&self.namespace, &id)?;
            if rec.status.is_closed() {
                let (_, history) = self.inner.store.load_run(run)?;
                return Ok(outcome_of(&history));
            }
            // Wake on any commit; the deadline guards against a missed notification.
            let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
        }
    }

    /// The status of workflow `id`'s current run, with the chain of runs before it.
    pub fn describe(&self, id: &str) -> Result<WorkflowDescription, HostError> {
        let (run, rec) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        Ok(WorkflowDescription::new(run, &rec).with_chain(&rec, |r| self.inner.store.run(r).ok()))
    }

    /// Starts workflow `id` with `options` (timeouts, retry policy, id reuse policy).
    pub async fn start_workflow_with(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
        options: &StartOptions,
    ) -> Result<RunId, HostError> {
        self.start(workflow_type, id, Payload::json(&input), options, None)
            .await
            .map(|(run, _)| run)
    }

    /// Signal-with-start: sends signal `signal_name` to workflow `id` if it is running,
    /// otherwise starts it (with `input` and `options`) with the signal recorded right after
    /// WorkflowExecutionStarted. Returns the run that received the signal.
    pub async fn signal_with_start(
        &self,
        workflow_type: &str,
        id: &str,
        input: serde_json::Value,
        signal_name: &str,
        signal_input: serde_json::Value,
        options: &StartOptions,
    ) -> Result<RunId, HostError> {
        check_name("signal name", signal_name)?;
        let signal = Payload::json(&signal_input);
        self.check_payload(&format!("input of signal {signal_name}"), &signal)?;
        self.start(
            workflow_type,
            id,
            Payload::json(&input),
            options,
            Some((signal_name.to_string(), signal)),
        )
        .await
        .map(|(run, _)| run)
    }

    fn check_payload(&self, what: &str, p: &Payload) -> Result<(), HostError> {
        let limit = self.rt().limits.max_payload_bytes;
        if p.len() > limit {
            return Err(HostError::PayloadTooLarge {
                what: what.to_string(),
                size: p.len(),
                limit,
            });
        }
        Ok(())
    }

    async fn start(
        &self,
        workflow_type: &str,
        id: &str,
        input: Payload,
        options: &StartOptions,
        signal: Option<(String, Payload)>,
    ) -> Result<(RunId, bool), HostError> {
        if !self.rt().workflows().contains_key(workflow_type) {
            let mut known: Vec<_> = self.rt().workflows().keys().cloned().collect();
            known.sort();
            return Err(HostError::UnknownWorkflowType(
                workflow_type.to_string(),
                known.join(", "),
            ));
        }
        if id.is_empty() || id.len() > 1000 {
            return Err(HostError::InvalidArgument(format!(
                "workflow id must have 1 to 1000 bytes, got {}",
                id.len()
            )));
        }
        self.check_payload(&format!("input of workflow {id}"), &input)?;
        let req = StartRequest {
            namespace: Some(self.namespace.clone()),
            workflow_id: WorkflowId(id.to_string()),
            workflow_type: workflow_type.to_string(),
            input,
            random_seed: rand::random(),
            options: options.workflow_options()?,
            id_reuse_policy: options.id_reuse_policy,
            signal,
        };
        let (inner, ns) = (self.inner.clone(), self.namespace.clone());
        let quota = self.rt().start_quota;
        let started = tokio::task::spawn_blocking(move || {
            let _turn = inner.store.lane(req.namespace.as_ref().unwrap_or(&ns));
            inner.store.start_workflow_with(&req, now_ms(), quota, None)
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        self.inner.bump();
        Ok(started)
    }

    /// Sends signal `name` with `input` to workflow `id`'s running run
    /// (WorkflowExecutionSignaled). The workflow receives signals in the order recorded.
    pub async fn signal(
        &self,
        id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<(), HostError> {
        check_name("signal name", name)?;
        let input = Payload::json(&input);
        self.check_payload(&format!("input of signal {name}"), &input)?;
        let run = self.running_run(id)?;
        let name = name.to_string();
        self.blocking(move |store| store.signal(run, &name, input, now_ms()))
            .await
    }

    /// Requests cancellation of workflow `id` (WorkflowExecutionCancelRequested). The workflow
    /// sees the request, may clean up, and ends as canceled when it returns a `Canceled`
    /// error. A repeated request changes nothing.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<(), HostError> {
        let run = self.running_run(id)?;
        let reason = reason.to_string();
        self.blocking(move |store| store.request_cancel(run, &reason, now_ms()))
            .await
    }

    /// Terminates workflow `id` at once (WorkflowExecutionTerminated) without running its
    /// code; its pending activities, timers and Nexus operations are dropped and its children
    /// are handled as their parent close policy says.
    pub async fn terminate(&self, id: &str, reason: &str) -> Result<(), HostError> {
        let run = self.running_run(id)?;
        let reason = reason.to_string();
        self.blocking(move |store| store.terminate(run, &reason, now_ms()).map(|_| ()))
            .await
    }

    /// Resets workflow `id` (Temporal's ResetWorkflowExecution) and returns the new run: its
    /// current run is terminated if open, and a new run of the same id gets the history up to
    /// the Workflow Task completed at `options.event_id` (or the last good task), then runs that
    /// task again on the current code. This is how to recover runs from a bad deployment.
    /// Signals recorded after the point are delivered again unless `reapply_signals` is false.
    /// A point that is not a WorkflowTaskCompleted, or with a pending child workflow or Nexus
    /// operation, is refused ([`StoreError::ResetRefused`]) and nothing changes.
    ///
    /// ```no_run
    /// # async fn f(client: weft::Client) -> Result<(), weft::HostError> {
    /// let new_run = client.reset("order-1", weft::ResetOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn reset(&self, id: &str, options: ResetOptions) -> Result<RunId, HostError> {
        let req = ResetRequest {
            namespace: self.namespace.clone(),
            workflow_id: WorkflowId(id.to_string()),
            event_id: options.event_id.map(EventId),
            reapply_signals: options.reapply_signals,
            reason: options.reason,
        };
        self.blocking(move |store| store.reset(&req, now_ms()))
            .await
    }

    /// Runs query `name` with `input` against workflow `id`'s current run and returns the
    /// handler's answer. Nothing is recorded. Closed runs can be queried too.
    pub async fn query(
        &self,
        id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        check_name("query name", name)?;
        let (run, _) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        let query = QueryRequest {
            name: name.to_string(),
            input: Payload::json(&input),
        };
        let inner = self.inner.clone();
        let ns = self.namespace.clone();
        let answer = tokio::task::spawn_blocking(move || {
            inner.with_env(&ns, |env| run_query(env, run, query))
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        match answer {
            Ok(Ok(p)) => Ok(p.to_json()),
            Ok(Err(f)) => Err(HostError::QueryFailed(f.to_string())),
            Err(msg) => Err(HostError::QueryFailed(msg)),
        }
    }

    /// Sends update `name` with `input` to workflow `id` and waits for its result. The
    /// workflow's validator may reject it (nothing is recorded); an accepted update records
    /// WorkflowExecutionUpdateAccepted and, when its handler returns,
    /// WorkflowExecutionUpdateCompleted. The update gets a fresh id.
    pub async fn update(
        &self,
        id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        let update_id = RunId::random().to_string();
        self.update_with_id(id, &update_id, name, input).await
    }

    /// [`Client::update`] with the caller's update id: a repeated request with the same id
    /// (for example after a crash) is the same update and is not applied twice.
    pub async fn update_with_id(
        &self,
        id: &str,
        update_id: &str,
        name: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value, HostError> {
        check_name("update name", name)?;
        check_name("update id", update_id)?;
        let input = Payload::json(&input);
        self.check_payload(&format!("input of update {name}"), &input)?;
        let mut failures = 0u32;
        let run = loop {
            let run = self.running_run(id)?;
            if self.find_update(run, update_id)?.0 {
                break run; // accepted before: wait for it
            }
            let guard = RunGuard::acquire(&self.inner, run).await;
            let inner = self.inner.clone();
            let ns = self.namespace.clone();
            let update = UpdateRequest {
                id: update_id.to_string(),
                name: name.to_string(),
                input: input.clone(),
            };
            let r = tokio::task::spawn_blocking(move || {
                inner.with_env(&ns, |env| run_update_task(env, run, update))
            })
            .await
            .map_err(|e| HostError::Engine(e.to_string()))?;
            drop(guard);
            let (outcome, state) = r?;
            if let TaskOutcome::Completed(fx) = &outcome {
                self.inner.apply(fx);
            }
            match (outcome, state) {
                (_, UpdateState::Rejected(f)) => return Err(HostError::UpdateRejected(f)),
                // The task failed before the update was validated, or its handler failed (a
                // panic): as in Temporal the update stays pending and is delivered again with
                // the next attempt, after the task's backoff, until the code is fixed. The
                // caller keeps waiting (bound it with a timeout of your own).
                (
                    TaskOutcome::Failed { message, .. },
                    UpdateState::Pending | UpdateState::Accepted,
                ) => {
                    failures += 1;
                    let delay = self.rt().limits.workflow_task_backoff(failures + 1);
                    warn!(
                        workflow_id = id,
                        update_id,
                        %message,
                        retry_in = ?delay,
                        "the Workflow Task delivering an update failed; the update is delivered again"
                    );
                    tokio::time::sleep(delay).await;
                }
                (TaskOutcome::Failed { message, .. }, _) => {
                    return Err(HostError::WorkflowTaskFailed(message));
                }
                (TaskOutcome::Terminated(reason), _) => {
                    return Err(HostError::WorkflowTaskFailed(reason));
                }
                (TaskOutcome::Completed(_), UpdateState::Accepted) => break run,
                // The history changed, or the run closed or continued before it could take
                // the update: look again.
                _ => {}
            }
        };
        self.wait_update(run, update_id).await
    }

    /// Waits for the outcome of update `update_id` of workflow `id`'s current run, for
    /// example after the caller of [`Client::update_with_id`] was restarted.
    pub async fn update_result(
        &self,
        id: &str,
        update_id: &str,
    ) -> Result<serde_json::Value, HostError> {
        let (run, _) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        if !self.find_update(run, update_id)?.0 {
            return Err(HostError::InvalidArgument(format!(
                "workflow {id} has no accepted update with id '{update_id}'"
            )));
        }
        self.wait_update(run, update_id).await
    }

    /// (accepted, completed outcome) of update `update_id` in `run`'s history.
    fn find_update(
        &self,
        run: RunId,
        update_id: &str,
    ) -> Result<(bool, Option<Result<Payload, Failure>>), HostError> {
        let (_, history) = self.inner.store.load_run(run)?;
        let mut accepted = false;
        for e in &history {
            match &e.kind {
                EventKind::WorkflowExecutionUpdateAccepted { update_id: u, .. }
                    if u == update_id =>
                {
                    accepted = true;
                }
                EventKind::WorkflowExecutionUpdateCompleted {
                    update_id: u,
                    result,
                    failure,
                } if u == update_id => {
                    let outcome = match failure {
                        Some(f) => Err(f.clone()),
                        None => Ok(result.clone().unwrap_or_default()),
                    };
                    return Ok((true, Some(outcome)));
                }
                _ => {}
            }
        }
        Ok((accepted, None))
    }

    async fn wait_update(
        &self,
        run: RunId,
        update_id: &str,
    ) -> Result<serde_json::Value, HostError> {
        let mut rx = self.inner.wake.subscribe();
        let mut seen = 0;
        loop {
            rx.borrow_and_update();
            // Wake-ups come with every commit of the host: read the history only when this
            // run's grew.
            let rec = self.inner.store.run(run)?;
            if rec.next_event_id != seen {
                seen = rec.next_event_id;
                match self.find_update(run, update_id)? {
                    (_, Some(Ok(p))) => return Ok(p.to_json()),
                    (_, Some(Err(f))) => return Err(HostError::UpdateFailed(f)),
                    _ => {}
                }
            }
            if rec.status.is_closed() {
                return Err(HostError::UpdateFailed(Failure::new(
                    "WorkflowClosed",
                    format!(
                        "the run closed ({:?}) before update '{update_id}' completed",
                        rec.status
                    ),
                )));
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
        }
    }

    /// The open current run of workflow `id`.
    fn running_run(&self, id: &str) -> Result<RunId, HostError> {
        let wid = WorkflowId(id.to_string());
        let (run, rec) = self.inner.store.current_run(&self.namespace, &wid)?;
        if rec.status.is_closed() {
            return Err(StoreError::NotRunning(wid, run, rec.status).into());
        }
        Ok(run)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, HostError> {
        let (inner, ns) = (self.inner.clone(), self.namespace.clone());
        let r = tokio::task::spawn_blocking(move || {
            let _turn = inner.store.lane(&ns);
            f(&inner.store)
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        self.inner.bump();
        Ok(r)
    }

    /// The history of workflow `id`'s current run.
    pub fn history(&self, id: &str) -> Result<Vec<Event>, HostError> {
        let (run, _) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        Ok(self.inner.store.load_run(run)?.1)
    }

    /// Replays the closed current run of workflow `id` against its registered component and
    /// checks that it ends with the same commands and result. An error names the divergence.
    pub fn verify_replay(&self, id: &str) -> Result<(), HostError> {
        let (run, rec) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        let workflows = self.rt().workflows();
        let compiled = workflows.get(&rec.workflow_type).ok_or_else(|| {
            HostError::UnknownWorkflowType(rec.workflow_type.clone(), String::new())
        })?;
        let (_, history) = self.inner.store.load_run(run)?;
        crate::workflow_task::verify_replay(
            &self.inner.sandbox,
            compiled,
            &self.rt().limits,
            &self.rt().served,
            run,
            rec.workflow_id,
            &history,
        )
        .map_err(HostError::ReplayDiverged)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for l in &self.loops {
            l.abort();
        }
        // As in `shutdown`, without waiting: a commit under way still completes.
        self.inner.store.close();
    }
}

fn check_name(what: &str, name: &str) -> Result<(), HostError> {
    if name.is_empty() || name.len() > 1000 {
        return Err(HostError::InvalidArgument(format!(
            "{what} must have 1 to 1000 bytes, got {}",
            name.len()
        )));
    }
    Ok(())
}

/// How a closed run ended, from its last event.
pub fn outcome_of(history: &[Event]) -> WorkflowOutcome {
    for e in history.iter().rev() {
        match &e.kind {
            EventKind::WorkflowExecutionCompleted { result } => {
                return WorkflowOutcome::Completed(result.to_json());
            }
            EventKind::WorkflowExecutionFailed { failure } => {
                return WorkflowOutcome::Failed(failure.clone());
            }
            EventKind::WorkflowExecutionTerminated { reason } => {
                return WorkflowOutcome::Failed(Failure::new("Terminated", reason.clone()));
            }
            EventKind::WorkflowExecutionCanceled { details } => {
                let message = match details.as_ref().map(Payload::to_json) {
                    Some(serde_json::Value::String(m)) => m,
                    Some(other) => other.to_string(),
                    None => "the workflow was canceled".into(),
                };
                return WorkflowOutcome::Failed(Failure::new("Canceled", message));
            }
            EventKind::WorkflowExecutionTimedOut { timeout } => {
                return WorkflowOutcome::Failed(Failure::new(
                    "TimedOut",
                    format!("the workflow passed its {timeout}"),
                ));
            }
            _ => {}
        }
    }
    WorkflowOutcome::Failed(Failure::new("NotClosed", "the run is still open"))
}

/// Waits until `deadline_ms` (if any, at most a second ahead), a wake-up or a stop.
/// Returns false when the host is stopping.
async fn wait(
    wake: &mut watch::Receiver<u64>,
    stop: &mut watch::Receiver<bool>,
    deadline_ms: Option<u64>,
) -> bool {
    let now = now_ms();
    let sleep_ms = deadline_ms.map_or(1_000, |d| d.saturating_sub(now).min(1_000));
    tokio::select! {
        _ = wake.changed() => {}
        _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
        _ = stop.changed() => {}
    }
    !*stop.borrow()
}

async fn workflow_task_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut wake = inner.wake.subscribe();
    loop {
        wake.borrow_and_update();
        let now = now_ms();
        // Each namespace brings at most as many candidates as it could run at once, and runs
        // with a task in flight are passed over: another namespace's due tasks are found
        // behind one namespace's backlog.
        let mut per_ns: HashMap<Namespace, usize> = HashMap::new();
        let capacity = inner.limits.max_concurrent_workflow_tasks.max(1);
        let due = {
            let in_flight = inner.in_flight.lock().expect("in-flight lock").clone();
            inner.store.due_workflow_tasks(now, 256, |run, ns| {
                if in_flight.contains_key(&run) {
                    return true;
                }
                let n = per_ns.entry(ns.clone()).or_default();
                *n += 1;
                *n > capacity
            })
        };
        let due = match due {
            Ok(d) => d,
            Err(e) => {
                error!("cannot read workflow tasks: {e}");
                Vec::new()
            }
        };
        let mut demand: HashMap<Namespace, usize> = HashMap::new();
        for (_, ns) in &due {
            *demand.entry(ns.clone()).or_default() += 1;
        }
        inner.workflow_task_slots.want_only(&demand);
        for (run, ns) in due {
            // A namespace at its quota or its fair share waits; others go on.
            let Ok(ns_permit) = inner.ns(&ns).task_permits.clone().try_acquire_owned() else {
                continue;
            };
            let Some(slot) = inner.workflow_task_slots.acquire(&ns, 1).pop() else {
                continue;
            };
            let Some(token) = inner.claim(run) else {
                continue;
            };
            spawn_workflow_task(&inner, run, ns, token, (slot, ns_permit));
        }
        let next = inner.store.next_workflow_task_after(now).ok().flatten();
        if !wait(&mut wake, &mut stop, next).await {
            return;
        }
    }
}

/// Runs `run`'s Workflow Task on a blocking thread, watched from outside: if the task is
/// still running the guest past the namespace's task time limit plus the watchdog grace
/// (which can only mean it is blocked inside a host call: guest code is stopped by the limit
/// itself), the task is recorded as failed, its slot and run are released, and whatever the
/// thread does later is dropped.
fn spawn_workflow_task(
    inner: &Arc<Inner>,
    run: RunId,
    ns: Namespace,
    token: u64,
    slots: (crate::fair::Slot, tokio::sync::OwnedSemaphorePermit),
) {
    let probe = Arc::new(TaskProbe::default());
    let held = Arc::new(Mutex::new(Some(slots)));
    let limits = inner.ns(&ns).limits.clone();
    let (inner2, probe2, held2) = (inner.clone(), probe.clone(), held.clone());
    let handle = tokio::task::spawn_blocking(move || {
        let r = inner2.with_env_probe(&ns, Some(&probe2), |env| run_workflow_task(env, run));
        if let Ok(TaskOutcome::Completed(fx)) = &r {
            inner2.apply(fx);
        }
        match r {
            Ok(TaskOutcome::Conflict) => {
                info!(run = %run, "history changed during the task; running it again")
            }
            Ok(_) => {}
            Err(e) => error!(run = %run, "workflow task could not be committed: {e}"),
        }
        inner2.release(run, token);
        drop(held2.lock().expect("slot lock").take());
        inner2.bump();
    });
    let inner = inner.clone();
    tokio::spawn(async move {
        let mut handle = handle;
        let patience = limits.max_task_time + limits.task_watchdog_grace;
        if tokio::time::timeout(patience, &mut handle).await.is_ok() {
            return;
        }
        let Some((what, attempt, started_ms)) = probe.time_out() else {
            // Already committing: let it finish.
            return;
        };
        let message = format!(
            "the Workflow Task did not finish within its time limit of {:?} (plus a grace of {:?}, enforced from outside the guest): it was {what}; the task is failed and retried",
            limits.max_task_time, limits.task_watchdog_grace
        );
        warn!(run = %run, %message, "watchdog: giving up on a Workflow Task");
        if attempt > 0 {
            let retry_at = now_ms() + limits.workflow_task_backoff(attempt + 1).as_millis() as u64;
            let inner2 = inner.clone();
            let failed = tokio::task::spawn_blocking(move || {
                inner2.store.fail_workflow_task(
                    run,
                    attempt,
                    started_ms,
                    crate::history::WorkflowTaskFailedCause::LimitExceeded,
                    &message,
                    retry_at,
                )
            })
            .await;
            if let Ok(Err(e)) = failed {
                error!(run = %run, "cannot record the task failure: {e}");
            }
        }
        inner.release(run, token);
        drop(held.lock().expect("slot lock").take());
        inner.bump();
    });
}

async fn activity_loop(
    inner: Arc<Inner>,
    namespace: Namespace,
    queue: String,
    max_concurrent: usize,
    mut stop: watch::Receiver<bool>,
) {
    let mut wake = inner.wake.subscribe();
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let qk = queue_key(&namespace, &queue);
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    loop {
        wake.borrow_and_update();
        running.retain(|h| !h.is_finished());
        let now = now_ms();
        let next = inner.store.next_due(&qk).map(|d| d[1]).unwrap_or(None);
        let free = permits.available_permits();
        let due_now = free > 0 && next.is_some_and(|d| d <= now);
        // The host's activity slots are shared fairly between namespaces.
        let slots = if due_now {
            inner.activity_slots.acquire(&namespace, free)
        } else {
            inner.activity_slots.want(&namespace, 0);
            Vec::new()
        };
        if !slots.is_empty() {
            let (inner2, qk2, ns2, n) = (inner.clone(), qk.clone(), namespace.clone(), slots.len());
            let leased = tokio::task::spawn_blocking(move || {
                let _turn = inner2.store.lane(&ns2);
                inner2.store.lease_activities(&qk2, now, n)
            })
            .await
            .unwrap_or_else(|e| {
                error!("the activity lease thread failed: {e}");
                Ok((Vec::new(), Effects::default()))
            });
            match leased {
                Ok((leased, fx)) => {
                    if fx != Effects::default() {
                        inner.apply(&fx);
                    }
                    let idle = leased.is_empty();
                    for (task, slot) in leased.into_iter().zip(slots) {
                        let permit = permits
                            .clone()
                            .try_acquire_owned()
                            .expect("counted permits");
                        let inner2 = inner.clone();
                        running.push(tokio::spawn(async move {
                            run_activity(&inner2, task).await;
                            drop((permit, slot));
                            inner2.bump();
                        }));
                    }
                    if !idle || fx != Effects::default() {
                        continue;
                    }
                }
                Err(e) => error!("cannot lease activity tasks: {e}"),
            }
        }
        if !wait(&mut wake, &mut stop, next.filter(|_| free > 0)).await {
            inner.activity_slots.want(&namespace, 0);
            for h in running {
                h.abort();
            }
            return;
        }
    }
}

async fn run_activity(inner: &Arc<Inner>, leased: LeasedActivity) {
    let LeasedActivity {
        run,
        namespace,
        scheduled_event_id: sched,
        task,
    } = leased;
    let rt = inner.ns(&namespace);
    let (cancel_tx, cancel_rx) = watch::channel(task.cancel_requested);
    inner
        .running
        .lock()
        .expect("running lock")
        .insert((run, sched), cancel_tx);
    let last_beat = Arc::new(std::sync::atomic::AtomicU64::new(now_ms()));
    let attempt = task.attempt;
    let beat: activity::HeartbeatFn = {
        let inner = inner.clone();
        Arc::new(move |details| {
            let inner = inner.clone();
            Box::pin(async move {
                tokio::task::spawn_blocking(move || {
                    inner
                        .store
                        .heartbeat(run, sched, attempt, details, now_ms())
                        .unwrap_or_else(|e| {
                            error!("cannot record a heartbeat: {e}");
                            HeartbeatAck::Continue
                        })
                })
                .await
                .unwrap_or(HeartbeatAck::Continue)
            })
        })
    };
    let ctx = activity::context(AttemptParts {
        namespace: namespace.clone(),
        workflow_id: task.workflow_id.clone(),
        run,
        scheduled: sched,
        activity_type: task.activity_type.clone(),
        attempt,
        details: task.heartbeat_details.clone(),
        cancel: cancel_rx,
        beat,
        last_beat: last_beat.clone(),
    });
    let span = tracing::info_span!("activity", namespace = %namespace, workflow_id = %task.workflow_id, run_id = %run, activity_id = %sched, activity_type = %task.activity_type, attempt);
    let _g = span.enter();
    let outcome = match rt.activities.get(&task.activity_type) {
        None => Err(Failure::new(
            "ActivityTypeNotRegistered",
            format!(
                "activity type '{}' is not registered in namespace {namespace} on this host",
                task.activity_type
            ),
        )),
        Some(f) => {
            let mut fut = tokio::spawn(f(ctx, task.input.clone()));
            let deadline =
                tokio::time::Instant::now() + Duration::from_millis(task.start_to_close_timeout_ms);
            let heartbeat = task.heartbeat_timeout_ms;
            loop {
                // Wake at the start-to-close deadline or when the next heartbeat is due.
                let beat_due = heartbeat.map(|hb| {
                    let last = last_beat.load(std::sync::atomic::Ordering::Relaxed);
                    tokio::time::Instant::now()
                        + Duration::from_millis((last + hb).saturating_sub(now_ms()))
                });
                let wake_at = beat_due.map_or(deadline, |b| b.min(deadline));
                tokio::select! {
                    r = &mut fut => break match r {
                        Ok(r) => r,
                        Err(join) => Err(Failure::new(
                            "ActivityPanicked",
                            format!("the activity panicked: {join}"),
                        )),
                    },
                    _ = tokio::time::sleep_until(wake_at) => {
                        let now = tokio::time::Instant::now();
                        if now >= deadline {
                            fut.abort();
                            break Err(Failure::new(
                                "StartToCloseTimeout",
                                format!(
                                    "attempt {attempt} did not finish within {} ms",
                                    task.start_to_close_timeout_ms
                                ),
                            ));
                        }
                        if let Some(hb) = heartbeat {
                            let last = last_beat.load(std::sync::atomic::Ordering::Relaxed);
                            if now_ms() >= last + hb {
                                fut.abort();
                                break Err(Failure::new(
                                    "HeartbeatTimeout",
                                    format!("attempt {attempt} sent no heartbeat for {hb} ms"),
                                ));
                            }
                        }
                    }
                }
            }
        }
    };
    inner
        .running
        .lock()
        .expect("running lock")
        .remove(&(run, sched));
    let outcome = match outcome {
        Ok(p) if p.len() > rt.limits.max_payload_bytes => Err(Failure::new(
            "PayloadTooLarge",
            format!(
                "result is {} bytes, above the payload limit of {} bytes",
                p.len(),
                rt.limits.max_payload_bytes
            ),
        )
        .non_retryable()),
        other => other,
    };
    match &outcome {
        // Giving up after a cancel request is the expected end, recorded as canceled.
        Err(f) if f.error_type == "Canceled" => info!(failure = %f, "activity attempt canceled"),
        Err(f) => warn!(failure = %f, "activity attempt failed"),
        Ok(_) => {}
    }
    let inner2 = inner.clone();
    let r = tokio::task::spawn_blocking(move || {
        let _turn = inner2.store.lane(&namespace);
        inner2
            .store
            .report_activity(run, sched, attempt, outcome, now_ms())
    })
    .await;
    match r {
        Ok(Ok(Some(fx))) => inner.apply(&fx),
        Ok(Ok(None)) => info!("the attempt's outcome came after the activity ended; dropped"),
        Ok(Err(e)) => error!("cannot record the activity outcome: {e}"),
        Err(e) => error!("cannot record the activity outcome: {e}"),
    }
}

async fn nexus_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut wake = inner.wake.subscribe();
    let permits = Arc::new(Semaphore::new(inner.limits.max_concurrent_activities));
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    loop {
        wake.borrow_and_update();
        running.retain(|h| !h.is_finished());
        let now = now_ms();
        let next = inner.store.next_due("").map(|d| d[3]).unwrap_or(None);
        let free = permits.available_permits();
        if free > 0 && next.is_some_and(|d| d <= now) {
            // Each task's namespace must get a slot of its fair share; the others stay queued.
            let pool = inner.nexus_slots.clone();
            match inner
                .store
                .lease_nexus(now, free, NEXUS_TASK_TIMEOUT.as_millis() as u64, |ns| {
                    pool.acquire(ns, 1).pop()
                }) {
                Ok(leased) if !leased.is_empty() => {
                    for (task, slot) in leased {
                        let permit = permits
                            .clone()
                            .try_acquire_owned()
                            .expect("counted permits");
                        let inner2 = inner.clone();
                        running.push(tokio::spawn(async move {
                            run_nexus(&inner2, task).await;
                            drop((permit, slot));
                            inner2.bump();
                        }));
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => error!("cannot lease Nexus tasks: {e}"),
            }
        }
        if !wait(&mut wake, &mut stop, next.filter(|_| free > 0)).await {
            for h in running {
                h.abort();
            }
            return;
        }
    }
}

/// How long one Nexus task delivery may take before it is delivered again.
const NEXUS_TASK_TIMEOUT: Duration = Duration::from_secs(60);

async fn run_nexus(inner: &Arc<Inner>, leased: LeasedNexus) {
    let LeasedNexus {
        run,
        namespace,
        scheduled_event_id: sched,
        kind,
        task,
    } = leased;
    let span = tracing::info_span!("nexus", namespace = %namespace, workflow_id = %task.workflow_id, run_id = %run, operation = %format!("{}/{}/{}", task.endpoint, task.service, task.operation), attempt = task.attempt);
    let _g = span.enter();
    let rt = inner.ns(&namespace);
    let ctx = NexusContext {
        namespace: namespace.clone(),
        request_id: task.request_id.clone(),
        endpoint: task.endpoint.clone(),
        service: task.service.clone(),
        operation: task.operation.clone(),
        caller_workflow_id: task.workflow_id.clone(),
        attempt: task.attempt,
    };
    let key = (
        task.endpoint.clone(),
        task.service.clone(),
        task.operation.clone(),
    );
    let retry_at =
        || now_ms() + crate::history::RetryPolicy::default().delay_before(task.attempt + 1);
    let report = match (rt.nexus.get(&key).cloned(), kind) {
        (None, _) => NexusReport::Retry {
            failure: Failure::new(
                "NexusOperationNotRegistered",
                format!(
                    "namespace {namespace} serves no Nexus operation {}/{}/{} on this host",
                    key.0, key.1, key.2
                ),
            ),
            retry_at_ms: retry_at(),
        },
        (Some(NexusHandler::Custom { start, .. }), NexusTaskKind::Start) => {
            match tokio::time::timeout(NEXUS_TASK_TIMEOUT, start(ctx, task.input.clone())).await {
                Ok(Ok(NexusStart::Sync(result))) => {
                    NexusReport::Finished(NexusOutcome::Completed(result))
                }
                Ok(Ok(NexusStart::Async { operation_token })) => {
                    NexusReport::Started { operation_token }
                }
                Ok(Err(e)) if e.retryable => NexusReport::Retry {
                    failure: e.failure,
                    retry_at_ms: retry_at(),
                },
                Ok(Err(e)) => NexusReport::Finished(NexusOutcome::Failed(e.failure)),
                Err(_) => NexusReport::Retry {
                    failure: Failure::new(
                        "NexusTaskTimeout",
                        "the start handler did not return in time",
                    ),
                    retry_at_ms: retry_at(),
                },
            }
        }
        (Some(NexusHandler::Custom { cancel, .. }), NexusTaskKind::Cancel) => {
            let token = task.operation_token.clone().unwrap_or_default();
            match cancel {
                None => NexusReport::CancelDelivered,
                Some(cancel) => match cancel(ctx, token).await {
                    Err(e) if e.retryable => NexusReport::Retry {
                        failure: e.failure,
                        retry_at_ms: retry_at(),
                    },
                    _ => NexusReport::CancelDelivered,
                },
            }
        }
        (Some(NexusHandler::Workflow { workflow_type }), NexusTaskKind::Start) => {
            let id = WorkflowId(format!("nexus-{}", task.request_id));
            let quota = rt.start_quota;
            let inner2 = inner.clone();
            let (ns, input) = (namespace.clone(), task.input.clone());
            let callback = NexusCallback {
                run,
                scheduled_event_id: sched,
            };
            let id2 = id.clone();
            let started = tokio::task::spawn_blocking(move || {
                inner2.store.start_workflow(
                    &ns,
                    &id2,
                    &workflow_type,
                    input,
                    rand::random(),
                    now_ms(),
                    quota,
                    Some(callback),
                )
            })
            .await;
            match started {
                Ok(Ok(_)) => NexusReport::Started {
                    operation_token: id.0,
                },
                Ok(Err(StoreError::AlreadyRunning(..))) => {
                    NexusReport::Finished(NexusOutcome::Failed(Failure::new(
                        "WorkflowAlreadyRunning",
                        format!("workflow {id} is already running for another caller"),
                    )))
                }
                // Refused in the start's transaction: the operation fails, as a child start
                // over the quota fails.
                Ok(Err(e @ StoreError::QuotaExceeded { .. })) => {
                    NexusReport::Finished(NexusOutcome::Failed(Failure::new(
                        crate::history::child_start_cause::NAMESPACE_QUOTA,
                        format!("the workflow backing the operation was not started: {e}"),
                    )))
                }
                Ok(Err(e @ StoreError::HistoryLimit(_))) => {
                    NexusReport::Finished(NexusOutcome::Failed(Failure::new(
                        crate::history::child_start_cause::HISTORY_LIMIT,
                        format!("the workflow backing the operation was not started: {e}"),
                    )))
                }
                Ok(Err(e)) => NexusReport::Retry {
                    failure: Failure::new("StartWorkflowFailed", e.to_string()),
                    retry_at_ms: retry_at(),
                },
                Err(e) => NexusReport::Retry {
                    failure: Failure::new("StartWorkflowFailed", e.to_string()),
                    retry_at_ms: retry_at(),
                },
            }
        }
        (Some(NexusHandler::Workflow { .. }), NexusTaskKind::Cancel) => {
            let id = WorkflowId(task.operation_token.clone().unwrap_or_default());
            let inner2 = inner.clone();
            let ns = namespace.clone();
            let r = tokio::task::spawn_blocking(move || {
                inner2.store.cancel_nexus_workflow(&ns, &id, now_ms())
            })
            .await;
            match r {
                Ok(Ok(_)) | Ok(Err(StoreError::UnknownWorkflow(_))) => NexusReport::CancelDelivered,
                Ok(Err(e)) => NexusReport::Retry {
                    failure: Failure::new("CancelWorkflowFailed", e.to_string()),
                    retry_at_ms: retry_at(),
                },
                Err(e) => NexusReport::Retry {
                    failure: Failure::new("CancelWorkflowFailed", e.to_string()),
                    retry_at_ms: retry_at(),
                },
            }
        }
    };
    if let NexusReport::Retry { failure, .. } = &report {
        warn!(failure = %failure, "Nexus task failed; delivering it again later");
    }
    let inner2 = inner.clone();
    let attempt = task.attempt;
    let r = tokio::task::spawn_blocking(move || {
        inner2
            .store
            .report_nexus(run, sched, attempt, report, now_ms())
    })
    .await;
    match r {
        Ok(Ok(Some(fx))) => inner.apply(&fx),
        Ok(Ok(None)) => info!("the Nexus task's outcome came after the operation ended; dropped"),
        Ok(Err(e)) => error!("cannot record the Nexus task outcome: {e}"),
        Err(e) => error!("cannot record the Nexus task outcome: {e}"),
    }
}

async fn timer_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut wake = inner.wake.subscribe();
    loop {
        wake.borrow_and_update();
        let now = now_ms();
        let next = inner.store.next_due("").map(|d| d[2]).unwrap_or(None);
        if next.is_some_and(|d| d <= now) {
            match inner.store.fire_timers(now) {
                Ok((n, fx)) if n > 0 => inner.apply(&fx),
                Ok(_) => {}
                Err(e) => error!("cannot fire timers: {e}"),
            }
            continue;
        }
        if !wait(&mut wake, &mut stop, next).await {
            return;
        }
    }
}

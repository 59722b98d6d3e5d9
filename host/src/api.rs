//! The host library API: build a host from workflow components and activities, start
//! workflows, wait for results, inspect them. Also the background loops that run Workflow
//! Tasks, activities and timers.
//!
//! This module owns scheduling (what runs when); `workflow_task`, `activity` and `store` own
//! what a task does and what it commits.

use crate::activity::{self, ActivityContext, ActivityError, ActivityFn};
use crate::history::{Event, EventKind, Failure, Payload};
use crate::ids::{Namespace, RunId, WorkflowId};
use crate::limits::Limits;
use crate::sandbox::{AdmissionError, CompiledWorkflow, Sandbox};
use crate::store::{
    LeasedActivity, NamespaceUsage, RunRecord, RunStatus, StartQuota, Store, StoreError,
};
use crate::workflow_task::{TaskOutcome, now_ms, run_workflow_task};
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
}

impl NamespaceBuilder {
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
                out.insert(
                    ns.clone(),
                    NamespaceRt::new(ns, &lim, &b.quotas, compiled, b.activities),
                );
            }
            let store = Store::open(&db_path, now_ms())?;
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
        let inner = Arc::new(Inner {
            store,
            sandbox,
            namespaces,
            unserved,
            api_keys,
            clients: Default::default(),
            limits,
            wake,
            in_flight: Mutex::new(HashSet::new()),
        });
        let loops = vec![
            tokio::spawn(workflow_task_loop(inner.clone(), stop.subscribe())),
            tokio::spawn(activity_loop(inner.clone(), stop.subscribe())),
            tokio::spawn(timer_loop(inner.clone(), stop.subscribe())),
        ];
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
}

impl NamespaceRt {
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
    in_flight: Mutex<HashSet<RunId>>,
}

impl Inner {
    fn ns(&self, ns: &Namespace) -> &NamespaceRt {
        self.namespaces.get(ns).unwrap_or(&self.unserved)
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
        }
    }
}

/// A running weft host. Dropping it stops the background loops; [`Host::shutdown`] also
/// waits for them.
pub struct Host {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl Host {
    fn clients_alive(&self) -> usize {
        self.inner.clients.load(std::sync::atomic::Ordering::SeqCst)
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

    /// Stops the loops and waits for them. Running activities are abandoned; their leases
    /// are released when the database is next opened, so they run again.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for l in self.loops.drain(..) {
            let _ = l.await;
        }
        // Let Workflow Tasks already running on blocking threads finish their commit, and
        // aborted activity tasks release the host, so the database is closed on return
        // (unless the caller still holds a `Client`).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.inner) > 1 + self.clients_alive() {
            if std::time::Instant::now() > deadline {
                warn!("host shutdown: tasks or clients still hold the database open");
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Access to one namespace: from [`Host::client`] (an API key) or [`Host::namespace`]. Ids are
/// looked up in that namespace only; a workflow of another namespace is reported unknown.
/// A client keeps the host's database open until it is dropped.
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
        let limit = self.rt().limits.max_payload_bytes;
        if input.len() > limit {
            return Err(HostError::PayloadTooLarge {
                what: format!("input of workflow {id}"),
                size: input.len(),
                limit,
            });
        }
        let inner = self.inner.clone();
        let ns = self.namespace.clone();
        let quota = self.rt().start_quota;
        let (id, ty) = (WorkflowId(id.to_string()), workflow_type.to_string());
        let run = tokio::task::spawn_blocking(move || {
            inner
                .store
                .start_workflow(&ns, &id, &ty, input, rand::random(), now_ms(), quota)
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        self.inner.bump();
        Ok(run)
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

    /// The status of workflow `id`'s current run.
    pub fn describe(&self, id: &str) -> Result<WorkflowDescription, HostError> {
        let (run, rec) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        Ok(WorkflowDescription::new(run, &rec))
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
    }
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
    let permits = Arc::new(Semaphore::new(inner.limits.max_concurrent_workflow_tasks));
    loop {
        wake.borrow_and_update();
        let now = now_ms();
        let due = match inner.store.due_workflow_tasks(now, 256) {
            Ok(d) => d,
            Err(e) => {
                error!("cannot read workflow tasks: {e}");
                Vec::new()
            }
        };
        for (run, ns) in due {
            if inner
                .in_flight
                .lock()
                .expect("in-flight lock")
                .contains(&run)
            {
                continue;
            }
            // A namespace at its share waits; others go on.
            let Ok(ns_permit) = inner.ns(&ns).task_permits.clone().try_acquire_owned() else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                break;
            };
            inner.in_flight.lock().expect("in-flight lock").insert(run);
            let inner2 = inner.clone();
            tokio::task::spawn_blocking(move || {
                let rt = inner2.ns(&ns);
                let r = run_workflow_task(
                    &inner2.store,
                    &inner2.sandbox,
                    &rt.workflows(),
                    &rt.limits,
                    run,
                );
                match r {
                    Ok(TaskOutcome::Conflict) => {
                        info!(run = %run, "history changed during the task; running it again")
                    }
                    Ok(_) => {}
                    Err(e) => error!(run = %run, "workflow task could not be committed: {e}"),
                }
                inner2
                    .in_flight
                    .lock()
                    .expect("in-flight lock")
                    .remove(&run);
                drop((permit, ns_permit));
                inner2.bump();
            });
        }
        let next = inner.store.next_workflow_task_after(now).ok().flatten();
        if !wait(&mut wake, &mut stop, next).await {
            return;
        }
    }
}

async fn activity_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut wake = inner.wake.subscribe();
    let permits = Arc::new(Semaphore::new(inner.limits.max_concurrent_activities));
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    loop {
        wake.borrow_and_update();
        running.retain(|h| !h.is_finished());
        let now = now_ms();
        let next = inner.store.next_due().map(|d| d[1]).unwrap_or(None);
        let free = permits.available_permits();
        if free > 0 && next.is_some_and(|d| d <= now) {
            match inner.store.lease_activities(now, free) {
                Ok(leased) => {
                    for task in leased {
                        let permit = permits
                            .clone()
                            .try_acquire_owned()
                            .expect("counted permits");
                        let inner2 = inner.clone();
                        running.push(tokio::spawn(async move {
                            run_activity(&inner2, task).await;
                            drop(permit);
                            inner2.bump();
                        }));
                    }
                }
                Err(e) => error!("cannot lease activity tasks: {e}"),
            }
            continue;
        }
        if !wait(&mut wake, &mut stop, next.filter(|_| free > 0)).await {
            for h in running {
                h.abort();
            }
            return;
        }
    }
}

async fn run_activity(inner: &Inner, leased: LeasedActivity) {
    let LeasedActivity {
        run,
        namespace,
        scheduled_event_id: sched,
        task,
    } = leased;
    let rt = inner.ns(&namespace);
    let ctx = activity::context(
        namespace.clone(),
        task.workflow_id.clone(),
        run,
        sched,
        task.activity_type.clone(),
        task.attempt,
    );
    let span = tracing::info_span!("activity", namespace = %namespace, workflow_id = %task.workflow_id, run_id = %run, activity_id = %sched, activity_type = %task.activity_type, attempt = task.attempt);
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
            let fut = tokio::spawn(f(ctx, task.input.clone()));
            let timeout = Duration::from_millis(task.start_to_close_timeout_ms);
            match tokio::time::timeout(timeout, fut).await {
                Ok(Ok(r)) => r,
                Ok(Err(join)) => Err(Failure::new(
                    "ActivityPanicked",
                    format!("the activity panicked: {join}"),
                )),
                Err(_) => Err(Failure::new(
                    "StartToCloseTimeout",
                    format!(
                        "attempt {} did not finish within {} ms",
                        task.attempt, task.start_to_close_timeout_ms
                    ),
                )),
            }
        }
    };
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
    let now = now_ms();
    let r = match outcome {
        Err(f) if task.retry_policy.may_retry(task.attempt, &f) => {
            let delay = task.retry_policy.delay_before(task.attempt + 1);
            warn!(failure = %f, delay_ms = delay, "activity attempt failed; retrying");
            inner
                .store
                .retry_activity(run, sched, task.attempt, f, now + delay)
                .map(|_| ())
        }
        outcome => {
            if let Err(f) = &outcome {
                warn!(failure = %f, "activity failed; not retrying");
            }
            inner
                .store
                .finish_activity(run, sched, task.attempt, outcome, now)
                .map(|_| ())
        }
    };
    if let Err(e) = r {
        error!("cannot record the activity outcome: {e}");
    }
}

async fn timer_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut wake = inner.wake.subscribe();
    loop {
        wake.borrow_and_update();
        let now = now_ms();
        let next = inner.store.next_due().map(|d| d[2]).unwrap_or(None);
        if next.is_some_and(|d| d <= now) {
            match inner.store.fire_timers(now) {
                Ok(n) if n > 0 => inner.bump(),
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

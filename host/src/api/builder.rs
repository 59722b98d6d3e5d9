//! Configuring and starting a host: [`HostBuilder`], [`NamespaceBuilder`] and [`Quotas`].
//! [`HostBuilder::start`] compiles the components, opens the store, assembles the shared state
//! and spawns the loops. What the loops and clients then do is elsewhere in `api`.

use super::HostError;
use super::host::{Host, Inner, NamespaceRt};
use super::loops;
use super::wakeups::Wakeups;
use crate::activity::{self, ActivityContext, ActivityError, ActivityFn};
use crate::api::shutdown::Shutdown;
use crate::clock::{Clock, SystemClock};
use crate::components::Components;
use crate::fair::FairShare;
use crate::ids::Namespace;
use crate::limits::Limits;
use crate::nexus::{self, NexusContext, NexusError, NexusHandler, NexusStart};
use crate::replay::{ReplayMode, Served};
use crate::sandbox::Sandbox;
use crate::store::{NamespaceLimits, Store};
use crate::workflow_task::Cache;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tracing::info;

enum ComponentSource {
    File(PathBuf),
    Bytes(Vec<u8>),
}

/// Quotas of one namespace. `None` leaves the host's limit (see [`Limits`]); a quota cannot
/// raise a host limit.
///
/// ```
/// use weft::{HostBuilder, Quotas};
/// let quotas = Quotas {
///     max_open_workflows: Some(1_000),
///     max_payload_bytes: Some(256 * 1024),
///     ..Quotas::default()
/// };
/// assert_eq!(quotas.max_history_events, None); // the host's limit applies
/// let builder = HostBuilder::new("tenants.redb").namespace("acme", |ns| ns.quotas(quotas));
/// # drop(builder);
/// ```
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
///
/// ```no_run
/// use weft::{ActivityContext, ActivityError, HostBuilder, ReplayMode};
/// # async fn run() -> Result<(), weft::HostError> {
/// let host = HostBuilder::new("tenants.redb")
///     .namespace("acme", |ns| {
///         ns.workflow_file("invoice", "invoice.wasm")
///             .activity("send_email", |_ctx: ActivityContext, to: String| async move {
///                 Ok::<_, ActivityError>(format!("sent to {to}"))
///             })
///             .task_queue("email", 4)
///             .replay_mode(ReplayMode::Strict)
///             .api_key("acme-key-0123456789abcdef")
///     })
///     .start()
///     .await?;
/// let acme = host.client("acme-key-0123456789abcdef")?; // reaches namespace acme only
/// assert_eq!(acme.namespace().as_str(), "acme");
/// # Ok(()) }
/// ```
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
    remote: bool,
}

impl NamespaceBuilder {
    /// Runs this namespace's activities and Nexus operations in remote workers instead of this
    /// process: any task queue name and any Nexus operation is accepted, no in-process worker
    /// leases activity tasks, and a worker anywhere takes them with
    /// [`crate::Client::poll_activity_task`] and [`crate::Client::poll_nexus_task`] (over
    /// `weft server`'s HTTP API, say), under the same leases, timeouts and retries as
    /// in-process. Activities registered with [`NamespaceBuilder::activity`] are then not run;
    /// Nexus operations registered here still run in-process.
    ///
    /// ```
    /// let builder = weft::HostBuilder::new("tenants.redb")
    ///     .namespace("acme", |ns| ns.workflow_file("invoice", "invoice.wasm").remote_activities());
    /// # drop(builder);
    /// ```
    pub fn remote_activities(mut self) -> Self {
        self.remote = true;
        self
    }

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

    /// Registers the component file at `path` as workflow type `workflow_type`. Registering a
    /// type again adds a newer version: new runs get the last one registered, and a run keeps
    /// the version it started with while the host has it (a run whose version is gone moves to
    /// the newest, as when a new build replaces the file).
    pub fn workflow_file(mut self, workflow_type: &str, path: impl AsRef<Path>) -> Self {
        self.workflows.push((
            workflow_type.to_string(),
            ComponentSource::File(path.as_ref().to_path_buf()),
        ));
        self
    }

    /// Registers component bytes as workflow type `workflow_type` (a version, as
    /// [`NamespaceBuilder::workflow_file`]).
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

impl NamespaceBuilder {
    /// Refuses API keys that are too short or already bound (in `bound`) to a namespace.
    pub(super) fn check_keys(
        &self,
        ns: &Namespace,
        bound: &HashMap<String, Namespace>,
    ) -> Result<(), HostError> {
        let mut seen = std::collections::HashSet::new();
        for key in &self.api_keys {
            if key.len() < 16 {
                return Err(HostError::InvalidArgument(format!(
                    "an API key of namespace {ns} has {} characters; use at least 16",
                    key.len()
                )));
            }
            if bound.contains_key(key) || !seen.insert(key) {
                return Err(HostError::InvalidArgument(
                    "the same API key is bound to two namespaces".into(),
                ));
            }
        }
        Ok(())
    }

    /// The keys bound to this namespace.
    pub(super) fn keys(&self) -> &[String] {
        &self.api_keys
    }

    /// Compiles the namespace's components (each once) and assembles what the running host
    /// serves. Blocking: compiling takes a while.
    pub(super) fn build(self, sandbox: &Sandbox, host: &Limits) -> Result<NamespaceRt, HostError> {
        let mut compiled = Components::default();
        for (ty, src) in self.workflows {
            let c = match src {
                ComponentSource::File(p) => sandbox.compile_file(&ty, &p)?,
                ComponentSource::Bytes(b) => sandbox.compile(&ty, &b)?,
            };
            compiled.insert(&ty, c);
        }
        let mut rt = NamespaceRt::new(
            Namespace::default_namespace(),
            host,
            &self.quotas,
            compiled,
            self.activities,
        );
        rt.queues.extend(self.task_queues);
        if self.remote {
            rt.queues.clear();
            rt.remote = true;
        }
        rt.nexus = self.nexus;
        rt.served = Arc::new(Served {
            task_queues: rt.queues.keys().cloned().collect(),
            remote_workers: self.remote,
            nexus_operations: rt.nexus.keys().cloned().collect(),
            replay_mode: self.replay_mode,
            replay_modes: self.replay_modes,
        });
        Ok(rt)
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
    clock: Arc<dyn Clock>,
    compile_cache: Option<PathBuf>,
    live_readers: bool,
    instance_pool: Option<u32>,
}

impl HostBuilder {
    /// A host on the database file `db_path` (created if missing).
    pub fn new(db_path: impl AsRef<Path>) -> HostBuilder {
        HostBuilder {
            db_path: db_path.as_ref().to_path_buf(),
            limits: Limits::default(),
            namespaces: BTreeMap::new(),
            clock: Arc::new(SystemClock),
            compile_cache: None,
            live_readers: true,
            instance_pool: None,
        }
    }

    /// Whether other processes may read the database file while this host runs (default
    /// `true`): `weft describe`, `history`, `list` and `query` with `--db`. With `false` the
    /// host locks the file exclusively (those commands are refused while it runs; reach it
    /// through `weft server` instead) and each commit syncs the disk once instead of twice,
    /// which shortens every durable step.
    pub fn live_readers(mut self, allowed: bool) -> HostBuilder {
        self.live_readers = allowed;
        self
    }

    /// Reserves memory, tables and fiber stacks for up to `instances` live workflow
    /// instances at once (the sticky cache's, running tasks', queries' and replays'
    /// together) and reuses them, instead of mapping and unmapping memory for every
    /// instance (wasmtime's pooling allocator). Creating and evicting instances gets cheaper,
    /// which is what a host starting many short-lived or parked workflows spends on. Each slot
    /// reserves address space for the largest linear memory the host's limits allow. An
    /// instance beyond `instances` fails to start (its Workflow Task fails and is retried),
    /// so `instances` must exceed the sticky cache's entries plus the concurrent Workflow
    /// Tasks ([`Limits`]), or [`HostBuilder::start`] refuses it; leave room for queries and
    /// replays too. Off by default.
    pub fn instance_pool(mut self, instances: u32) -> HostBuilder {
        self.instance_pool = Some(instances);
        self
    }

    /// Keeps the machine code of compiled components in directory `dir` (created if missing)
    /// across restarts, keyed by component digest and engine configuration: a component
    /// compiled once loads from there at the next start instead of compiling again (a large
    /// Python or JavaScript component takes seconds to compile). The files are loaded as
    /// code, so the directory must be writable by this host only.
    pub fn compile_cache(mut self, dir: impl AsRef<Path>) -> HostBuilder {
        self.compile_cache = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Replaces the clock the host records time from (default [`SystemClock`]), for tests:
    /// a [`crate::clock::ManualClock`] fixes the times written to histories and used for due
    /// times. The loops still sleep on real time (see [`crate::clock`]).
    #[doc(hidden)]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> HostBuilder {
        self.clock = clock;
        self
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
            clock,
            compile_cache,
            live_readers,
            instance_pool,
        } = self;
        namespaces
            .entry(Namespace::DEFAULT.to_string())
            .or_default();
        let mut api_keys = HashMap::new();
        let mut specs = Vec::new();
        for (name, b) in namespaces {
            let ns = Namespace::new(&name).map_err(HostError::InvalidArgument)?;
            b.check_keys(&ns, &api_keys)?;
            for key in &b.api_keys {
                api_keys.insert(key.clone(), ns.clone());
            }
            specs.push((ns, b));
        }
        if let Some(n) = instance_pool {
            // Cached instances and running tasks must fit with room to spare, or tasks would
            // fail for want of a slot while the cache holds them all.
            let needed = limits.sticky_cache_entries + limits.max_concurrent_workflow_tasks;
            if (n as usize) <= needed {
                return Err(HostError::InvalidArgument(format!(
                    "an instance pool of {n} leaves no room beyond the sticky cache's {} \
                     entries and {} concurrent Workflow Tasks: make it larger than {needed}",
                    limits.sticky_cache_entries, limits.max_concurrent_workflow_tasks
                )));
            }
        }
        let lim = limits.clone();
        let clock2 = clock.clone();
        let (store, sandbox, namespaces) = tokio::task::spawn_blocking(move || {
            let mut sandbox = match instance_pool {
                None => Sandbox::new(lim.clone()),
                Some(n) => Sandbox::pooled(lim.clone(), n),
            }
            .map_err(|e| HostError::Engine(format!("{e:#}")))?;
            if let Some(dir) = compile_cache {
                sandbox = sandbox.with_compile_cache(&dir).map_err(|e| {
                    HostError::Engine(format!(
                        "cannot use {} for compiled code: {e}",
                        dir.display()
                    ))
                })?;
            }
            let mut out = HashMap::new();
            for (ns, b) in specs {
                let rt = b.build(&sandbox, &lim)?;
                out.insert(ns, Arc::new(rt));
            }
            // The store checks each namespace's history limits and quotas in the transaction
            // that would pass them; a namespace not configured here gets the host's limits.
            let sharing = if live_readers {
                weft_store_redb::FileSharing::LiveReaders
            } else {
                weft_store_redb::FileSharing::Exclusive
            };
            let store = Store::open_shared(&db_path, clock2.now_ms(), sharing)?.with_limits(
                NamespaceLimits::host(&lim),
                out.iter()
                    .map(|(ns, rt)| (ns.clone(), rt.store_limits()))
                    .collect(),
            );
            Ok::<_, HostError>((store, sandbox, out))
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))??;
        let wake = Wakeups::new();
        let stop = Shutdown::new();
        let unserved = Arc::new(NamespaceRt::new(
            Namespace::default_namespace(),
            &limits,
            &Quotas {
                max_concurrent_workflow_tasks: Some(1),
                ..Quotas::default()
            },
            Components::default(),
            HashMap::new(),
        ));
        let cache = (limits.sticky_cache_entries > 0).then(|| {
            Cache::new(
                limits.sticky_cache_entries,
                limits.sticky_cache_memory_bytes,
            )
        });
        let inner = Arc::new(Inner {
            store,
            sandbox,
            namespaces: RwLock::new(namespaces),
            unserved,
            api_keys: RwLock::new(api_keys),
            clients: Default::default(),
            workflow_task_slots: FairShare::new(limits.max_concurrent_workflow_tasks),
            activity_slots: FairShare::new(limits.max_concurrent_activities),
            nexus_slots: FairShare::new(limits.max_concurrent_activities),
            limits,
            clock,
            wake,
            in_flight: Mutex::new(HashMap::new()),
            next_claim: std::sync::atomic::AtomicU64::new(1),
            running: Mutex::new(HashMap::new()),
            eager: Mutex::new(HashMap::new()),
            cache,
            nexus_mail: Default::default(),
            last_compiled: Mutex::new(None),
        });
        let loops = loops::spawn_all(&inner, &stop);
        info!(db = %inner.store.path().display(), "weft host started");
        Ok(Host {
            inner,
            stop,
            loops: Mutex::new(loops),
        })
    }
}

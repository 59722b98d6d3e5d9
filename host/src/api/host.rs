//! The running host: [`Host`], and `Inner`, the state its loops and clients share (store,
//! sandbox, namespaces, slots, claims on runs, wake-ups). It does not schedule anything itself:
//! the loops do, and clients act through `Inner`.

use super::builder::Quotas;
use super::wakeups::Wakeups;
use super::{Client, HostError, ResetOptions, WorkflowDescription, WorkflowOutcome};
use crate::activity::ActivityFn;
use crate::api::shutdown::Shutdown;
use crate::clock::Clock;
use crate::components::Components;
use crate::fair::FairShare;
use crate::history::{Event, Payload};
use crate::ids::{Namespace, RunId};
use crate::limits::Limits;
use crate::nexus::NexusHandler;
use crate::replay::Served;
use crate::sandbox::{CompiledWorkflow, Sandbox};
use crate::store::{Effects, NamespaceLimits, StartQuota, Store};
use crate::workflow_task::{Cache, TaskEnv, TaskProbe};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Holds a run for one task at a time (shared with the workflow-task loop).
pub(super) struct RunGuard {
    pub(super) inner: Arc<Inner>,
    pub(super) run: RunId,
    pub(super) token: u64,
}

impl RunGuard {
    pub(super) async fn acquire(inner: &Arc<Inner>, run: RunId) -> RunGuard {
        let mut rx = inner.wake.any.subscribe();
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
        self.inner.wake.run_released();
    }
}

/// A namespace as the running host serves it.
pub(super) struct NamespaceRt {
    /// Every version of the namespace's workflow components, replaced (copy on write) by each
    /// registration; shared with the same namespace under other quotas
    /// ([`NamespaceRt::with_quotas`]).
    pub(super) components: Arc<RwLock<Arc<Components>>>,
    pub(super) activities: HashMap<String, ActivityFn>,
    /// The host's limits with the namespace's quotas applied.
    pub(super) limits: Limits,
    pub(super) start_quota: StartQuota,
    pub(super) task_permits: Arc<Semaphore>,
    /// Served activity queues and their concurrency.
    pub(super) queues: BTreeMap<String, usize>,
    pub(super) nexus: HashMap<(String, String, String), NexusHandler>,
    pub(super) served: Arc<Served>,
    /// Activities run in remote workers (`Client::poll_activity_task`): no queue is served
    /// in-process and any task queue name is accepted.
    pub(super) remote: bool,
}

impl NamespaceRt {
    /// What the store enforces for this namespace.
    pub(super) fn store_limits(&self) -> NamespaceLimits {
        NamespaceLimits {
            start: self.start_quota,
            ..NamespaceLimits::host(&self.limits)
        }
    }

    /// The components registered now.
    pub(super) fn components(&self) -> Arc<Components> {
        self.components.read().expect("components lock").clone()
    }

    /// Adds `compiled` as the newest version of `workflow_type`.
    pub(super) fn register(&self, workflow_type: &str, compiled: CompiledWorkflow) {
        let mut current = self.components.write().expect("components lock");
        let mut next = Components::clone(&current);
        next.insert(workflow_type, compiled);
        *current = Arc::new(next);
    }

    pub(super) fn new(
        _ns: Namespace,
        host: &Limits,
        q: &Quotas,
        components: Components,
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
            components: Arc::new(RwLock::new(Arc::new(components))),
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
            remote: false,
        }
    }

    /// The same namespace with quotas `q`: the same components, handlers and queues, and a
    /// fresh Workflow Task semaphore sized by `q`.
    pub(super) fn with_quotas(&self, host: &Limits, q: &Quotas) -> NamespaceRt {
        let mut rt = NamespaceRt::new(
            Namespace::default_namespace(),
            host,
            q,
            Components::default(),
            self.activities.clone(),
        );
        rt.components = self.components.clone();
        rt.queues = self.queues.clone();
        rt.nexus = self.nexus.clone();
        rt.served = self.served.clone();
        rt.remote = self.remote;
        rt
    }
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) sandbox: Sandbox,
    /// The namespaces served, added and removed while the host runs.
    pub(super) namespaces: RwLock<HashMap<Namespace, Arc<NamespaceRt>>>,
    /// Stands in for a namespace found in the database but not configured on this host: its
    /// tasks fail with a clear message until it is configured again.
    pub(super) unserved: Arc<NamespaceRt>,
    pub(super) api_keys: RwLock<HashMap<String, Namespace>>,
    /// Live [`Client`]s (each holds the host).
    pub(super) clients: std::sync::atomic::AtomicUsize,
    pub(super) limits: Limits,
    /// The time recorded in histories, leases and deadlines.
    pub(super) clock: Arc<dyn Clock>,
    pub(super) wake: Wakeups,
    /// Runs with a task in flight, each with the token of the claim that holds it.
    pub(super) in_flight: Mutex<HashMap<RunId, u64>>,
    pub(super) next_claim: std::sync::atomic::AtomicU64,
    /// The host's Workflow Task, activity and Nexus slots, shared fairly between namespaces.
    pub(super) workflow_task_slots: Arc<FairShare>,
    pub(super) activity_slots: Arc<FairShare>,
    pub(super) nexus_slots: Arc<FairShare>,
    /// Cancel signals of running activity attempts.
    pub(super) running: Mutex<HashMap<(RunId, crate::ids::EventId), watch::Sender<bool>>>,
    /// The activity queues served in-process, by queue key: where a Workflow Task's new
    /// activities run at once (`loops::eager`).
    pub(super) eager: Mutex<HashMap<String, super::loops::EagerQueue>>,
    /// Suspended workflow instances (none when the cache is off).
    pub(super) cache: Option<Cache>,
    /// Nexus tasks of remote namespaces leased for remote workers, by namespace and endpoint,
    /// waiting for `Client::poll_nexus_task` (see `api/remote`).
    pub(super) nexus_mail: super::remote::NexusMail,
    /// The component compiled last for a check or a replay of saved histories, by digest: a
    /// run of replays against one build compiles (or loads) it once.
    pub(super) last_compiled: Mutex<Option<crate::sandbox::CompiledWorkflow>>,
}

impl Inner {
    /// The host clock's time, ms since the epoch.
    pub(super) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The namespace `ns` as served now (the unserved stand-in if it is not configured).
    pub(super) fn ns(&self, ns: &Namespace) -> Arc<NamespaceRt> {
        self.namespaces
            .read()
            .expect("namespaces lock")
            .get(ns)
            .unwrap_or(&self.unserved)
            .clone()
    }

    /// Whether namespace `ns` is configured on this host now.
    pub(super) fn serves(&self, ns: &Namespace) -> bool {
        self.namespaces
            .read()
            .expect("namespaces lock")
            .contains_key(ns)
    }

    /// Acts on what a commit changed: tells running activities about cancel requests and
    /// wakes the loops with work in it.
    pub(super) fn apply(&self, fx: &Effects) {
        if !fx.cancel_activities.is_empty() {
            let running = self.running.lock().expect("running lock");
            for key in &fx.cancel_activities {
                if let Some(tx) = running.get(key) {
                    let _ = tx.send(true);
                }
            }
        }
        self.wake.committed(fx, self.store.workflow_tasks_queued());
    }

    /// Holds `run` for one task; `None` if a task of it is in flight.
    pub(super) fn claim(&self, run: RunId) -> Option<u64> {
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
    pub(super) fn release(&self, run: RunId, token: u64) {
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        if in_flight.get(&run) == Some(&token) {
            in_flight.remove(&run);
        }
    }

    /// Runs `f` with what a task of namespace `ns` needs.
    pub(super) fn with_env<T>(
        self: &Arc<Self>,
        ns: &Namespace,
        f: impl FnOnce(&TaskEnv<'_>) -> T,
    ) -> T {
        self.with_env_probe(ns, None, f)
    }

    /// [`Inner::with_env`] for a task a watchdog may give up on.
    pub(super) fn with_env_probe<T>(
        self: &Arc<Self>,
        ns: &Namespace,
        probe: Option<&TaskProbe>,
        f: impl FnOnce(&TaskEnv<'_>) -> T,
    ) -> T {
        let rt = self.ns(ns);
        let components = rt.components();
        let eager = super::loops::EagerHost(self.clone());
        f(&TaskEnv {
            store: &self.store,
            sandbox: &self.sandbox,
            components: &components,
            pins: true,
            limits: &rt.limits,
            served: &rt.served,
            cache: self.cache.as_ref(),
            probe,
            clock: self.clock.as_ref(),
            eager: Some(&eager),
        })
    }

    /// Wakes every loop and waiter, after a commit whose effects are not known.
    pub(super) fn bump(&self) {
        self.wake.all();
    }
}

/// A running weft host. Dropping it stops the background loops and closes the database;
/// [`Host::shutdown`] also waits for them and for Workflow Tasks under way first.
///
/// ```no_run
/// use serde_json::json;
/// # async fn run() -> Result<(), weft::HostError> {
/// let host = weft::HostBuilder::new("orders.redb")
///     .workflow_file("order", "order.wasm")
///     .start()
///     .await?;
/// let run = host.start_workflow("order", "order-1", json!({"cents": 4200})).await?;
/// println!("run {run}: {:?}", host.describe("order-1")?.status);
/// println!("ended: {:?}", host.result("order-1").await?);
/// host.shutdown().await; // waits for the loops, then closes the file cleanly
/// # Ok(()) }
/// ```
pub struct Host {
    pub(super) inner: Arc<Inner>,
    pub(super) stop: Shutdown,
    /// The background loops, including the queue workers of namespaces added later.
    pub(super) loops: Mutex<Vec<JoinHandle<()>>>,
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

    /// Durable commits the host made since it started, and the writes (starts, task
    /// completions, activity leases and reports, signals, ...) they carried: writes made at
    /// the same time share one commit.
    pub fn commit_stats(&self) -> crate::CommitStats {
        self.inner.store.commit_stats()
    }

    /// A client of the namespace API key `api_key` is bound to. It reaches that namespace
    /// only.
    pub fn client(&self, api_key: &str) -> Result<Client, HostError> {
        let namespace = self
            .inner
            .api_keys
            .read()
            .expect("api keys lock")
            .get(api_key)
            .ok_or(HostError::Unauthorized)?
            .clone();
        Ok(Client::new(self.inner.clone(), namespace))
    }

    /// A client of namespace `name`, for the operator who built the host.
    pub fn namespace(&self, name: &str) -> Result<Client, HostError> {
        let namespace = Namespace::new(name).map_err(HostError::InvalidArgument)?;
        if !self.inner.serves(&namespace) {
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

    /// [`Client::replay_history`] in the default namespace.
    pub async fn replay_history(
        &self,
        component: Vec<u8>,
        workflow_id: &str,
        run: RunId,
        history: Vec<Event>,
    ) -> Result<(), HostError> {
        self.default_client()
            .replay_history(component, workflow_id, run, history)
            .await
    }

    /// Stops the loops, waits for them and for Workflow Tasks already under way (at most
    /// 5 s), then closes the database file cleanly: on return, the next open (a host, or a
    /// read-only `weft list`) finds nothing to recover. Running activities are abandoned; their
    /// leases are released when the database is next opened, so they run again. Clients still
    /// held, even by handlers this host runs, fail with [`StoreError::Closed`] afterwards.
    pub async fn shutdown(self) {
        self.stop.begin();
        let loops = std::mem::take(&mut *self.loops.lock().expect("loops lock"));
        for l in loops {
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

impl Drop for Host {
    fn drop(&mut self) {
        self.stop.begin();
        for l in self.loops.lock().expect("loops lock").iter() {
            l.abort();
        }
        // As in `shutdown`, without waiting: a commit under way still completes.
        self.inner.store.close();
    }
}

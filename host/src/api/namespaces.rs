//! Namespaces added, changed and removed while the host runs ([`Host::add_namespace`],
//! [`Host::set_quotas`], [`Host::remove_namespace`]): what `weft server`'s admin API calls. A
//! namespace's histories stay in the database whatever happens to its configuration.

use super::builder::{NamespaceBuilder, Quotas};
use super::host::Host;
use super::{HostError, loops};
use crate::ids::Namespace;
use std::sync::Arc;
use tracing::info;

impl Host {
    /// Serves namespace `name`, configured by `configure`, from now on: its components are
    /// compiled, its API keys bound, its quotas enforced and its in-process task queues
    /// served, without a restart. A namespace of that name already served is refused.
    ///
    /// ```no_run
    /// # async fn run(host: weft::Host) -> Result<(), weft::HostError> {
    /// host.add_namespace("acme", |ns| {
    ///     ns.workflow_file("invoice", "invoice.wasm")
    ///         .remote_activities()
    ///         .api_key("acme-key-0123456789abcdef")
    /// })
    /// .await?;
    /// let acme = host.client("acme-key-0123456789abcdef")?;
    /// # Ok(()) }
    /// ```
    pub async fn add_namespace(
        &self,
        name: &str,
        configure: impl FnOnce(NamespaceBuilder) -> NamespaceBuilder,
    ) -> Result<(), HostError> {
        let ns = Namespace::new(name).map_err(HostError::InvalidArgument)?;
        if self.inner.serves(&ns) {
            return Err(exists(name));
        }
        let builder = configure(NamespaceBuilder::default());
        builder.check_keys(&ns, &self.inner.api_keys.read().expect("api keys lock"))?;
        let keys = builder.keys().to_vec();
        let inner = self.inner.clone();
        let rt = tokio::task::spawn_blocking(move || builder.build(&inner.sandbox, &inner.limits))
            .await
            .map_err(|e| HostError::Engine(e.to_string()))??;
        let rt = Arc::new(rt);
        {
            let mut all = self.inner.namespaces.write().expect("namespaces lock");
            if all.contains_key(&ns) {
                return Err(exists(name));
            }
            let mut bound = self.inner.api_keys.write().expect("api keys lock");
            if keys.iter().any(|k| bound.contains_key(k)) {
                return Err(HostError::InvalidArgument(
                    "the same API key is bound to two namespaces".into(),
                ));
            }
            self.inner.store.set_limits(&ns, Some(rt.store_limits()));
            all.insert(ns.clone(), rt.clone());
            for key in keys {
                bound.insert(key, ns.clone());
            }
        }
        let workers = loops::spawn_queues(&self.inner, &self.stop, &ns, &rt);
        self.loops.lock().expect("loops lock").extend(workers);
        self.inner.bump();
        info!(namespace = %ns, "namespace added");
        Ok(())
    }

    /// Replaces the quotas of namespace `name` (see [`Quotas`]); tasks and transactions that
    /// begin afterwards obey them.
    pub fn set_quotas(&self, name: &str, quotas: Quotas) -> Result<(), HostError> {
        let ns = Namespace::new(name).map_err(HostError::InvalidArgument)?;
        let mut all = self.inner.namespaces.write().expect("namespaces lock");
        let rt = all
            .get(&ns)
            .ok_or_else(|| HostError::UnknownNamespace(name.to_string()))?;
        let rt = Arc::new(rt.with_quotas(&self.inner.limits, &quotas));
        self.inner.store.set_limits(&ns, Some(rt.store_limits()));
        all.insert(ns.clone(), rt);
        info!(namespace = %ns, ?quotas, "namespace quotas changed");
        Ok(())
    }

    /// Stops serving namespace `name`: its API keys are unbound and its queue workers end.
    /// Refused for `default` and while the namespace has open workflows (cancel or terminate
    /// them first); closed histories stay in the database, and adding the namespace again
    /// finds them.
    pub fn remove_namespace(&self, name: &str) -> Result<(), HostError> {
        let ns = Namespace::new(name).map_err(HostError::InvalidArgument)?;
        if ns == Namespace::default_namespace() {
            return Err(HostError::InvalidArgument(
                "namespace 'default' cannot be removed".into(),
            ));
        }
        let mut all = self.inner.namespaces.write().expect("namespaces lock");
        if !all.contains_key(&ns) {
            return Err(HostError::UnknownNamespace(name.to_string()));
        }
        let open = self.inner.store.usage(&ns)?.open_workflows;
        if open > 0 {
            return Err(HostError::InvalidArgument(format!(
                "namespace '{name}' has {open} open workflows; cancel or terminate them first"
            )));
        }
        all.remove(&ns);
        self.inner
            .api_keys
            .write()
            .expect("api keys lock")
            .retain(|_, n| *n != ns);
        self.inner.store.set_limits(&ns, None);
        drop(all);
        self.inner.bump();
        info!(namespace = %ns, "namespace removed");
        Ok(())
    }

    /// Every activity task queue with tasks in it, of every namespace: for metrics and
    /// operators (a scan of the queues, not for a hot path).
    pub fn activity_queues(&self) -> Result<Vec<QueueDepth>, HostError> {
        let now = self.inner.now_ms();
        Ok(self
            .inner
            .store
            .activity_queues()?
            .into_iter()
            .map(|q| {
                let (namespace, task_queue) = q
                    .queue_key
                    .split_once('/')
                    .unwrap_or(("", q.queue_key.as_str()));
                QueueDepth {
                    namespace: namespace.to_string(),
                    task_queue: task_queue.to_string(),
                    depth: q.depth,
                    oldest_wait_ms: now.saturating_sub(q.first_due_ms),
                }
            })
            .collect())
    }

    /// The names of the namespaces served now, sorted.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .namespaces
            .read()
            .expect("namespaces lock")
            .keys()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        names
    }
}

/// One activity task queue as [`Host::activity_queues`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// Namespace.
    pub namespace: String,
    /// Task queue.
    pub task_queue: String,
    /// Tasks in it: waiting, and leased to a worker that has not reported yet.
    pub depth: u64,
    /// How long its first task has been due, ms (0 when it is not due yet: a retry's backoff
    /// or a running attempt's lease).
    pub oldest_wait_ms: u64,
}

fn exists(name: &str) -> HostError {
    HostError::InvalidArgument(format!("namespace '{name}' already exists"))
}

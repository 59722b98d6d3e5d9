//! One way for every test to configure a host: [`TestHost`] owns a temporary directory with
//! the database file in it, the limits, and the registrations (workflow components, the
//! shared activities, namespaces), and starts a [`weft::Host`] from them as often as a test
//! needs: a second start reopens the same database file, as a restarted host process would.
//!
//! A test writes `let t = TestHost::new().steps().workflow("steps", STEPS);`, then
//! `let host = t.start().await;`, and after `host.shutdown().await` may call `t.start()` again
//! to restart on the same file.
//!
//! Setups the methods do not cover go through [`TestHost::with`] (kept for every start) or
//! [`TestHost::builder`] (the configured [`HostBuilder`], for one start).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use weft::{
    ActivityContext, ActivityError, Host, HostBuilder, HostError, Limits, Namespace,
    NamespaceBuilder,
};

/// One registration step, applied to a fresh [`HostBuilder`] at every start.
type Setup = Arc<dyn Fn(HostBuilder) -> HostBuilder + Send + Sync>;

/// The limits a [`TestHost`] starts with: the defaults, except that a failed Workflow Task
/// is retried after 50 ms instead of a second, so tests that fail tasks on purpose do not
/// wait.
pub fn test_limits() -> Limits {
    Limits {
        workflow_task_retry_initial: Duration::from_millis(50),
        ..Limits::default()
    }
}

/// Registers the activities of the order example's workflow ([`crate::ORDER`]):
/// `reserve_inventory`, `charge_card` (which declines card numbers starting with `4000`),
/// `release_inventory` and `ship_order`, each answering at once with a fixed result.
pub fn order_activities(ns: NamespaceBuilder) -> NamespaceBuilder {
    ns.activity(
        "reserve_inventory",
        |_c: ActivityContext, _i: Value| async move {
            Ok::<_, ActivityError>(json!({"reservation_id": "rsv-1"}))
        },
    )
    .activity("charge_card", |_c: ActivityContext, i: Value| async move {
        if i["card_number"].as_str().unwrap_or("").starts_with("4000") {
            return Err(ActivityError::non_retryable(
                "CardDeclined",
                "the card was declined",
            ));
        }
        Ok(json!({"charge_id": "ch-1"}))
    })
    .activity(
        "release_inventory",
        |_c: ActivityContext, _i: Value| async move { Ok::<_, ActivityError>(json!({})) },
    )
    .activity("ship_order", |_c: ActivityContext, _i: Value| async move {
        Ok::<_, ActivityError>(json!({"tracking_number": "TRK-1"}))
    })
}

/// The compiled-code cache directory the tests share (target/test-compile-cache).
pub fn shared_compile_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-compile-cache")
}

/// A temporary database file and the configuration of the hosts a test starts on it.
///
/// The directory lives as long as the `TestHost`: keep it in scope while a host started
/// from it runs.
pub struct TestHost {
    dir: tempfile::TempDir,
    db: PathBuf,
    limits: Limits,
    setup: Vec<Setup>,
    step_runs: Arc<AtomicUsize>,
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost::new()
    }
}

impl TestHost {
    /// A new temporary directory with database file `weft.redb` in it, [`test_limits`], and
    /// nothing registered.
    pub fn new() -> TestHost {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = dir.path().join("weft.redb");
        TestHost {
            dir,
            db,
            limits: test_limits(),
            setup: Vec::new(),
            step_runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The temporary directory, for files next to the database (logs, other databases).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database file every start opens.
    pub fn db(&self) -> &Path {
        &self.db
    }

    /// Replaces the limits (by default [`test_limits`]).
    pub fn limits(mut self, limits: Limits) -> TestHost {
        self.limits = limits;
        self
    }

    /// Sets how many workflow instances the sticky cache keeps (0 turns it off).
    pub fn sticky_cache(mut self, entries: usize) -> TestHost {
        self.limits.sticky_cache_entries = entries;
        self
    }

    /// Registers the component file at `component` (such as one of the constants of this
    /// crate) as workflow type `workflow_type` in the default namespace.
    pub fn workflow(self, workflow_type: &str, component: &str) -> TestHost {
        let (ty, path) = (workflow_type.to_string(), component.to_string());
        self.with(move |b| b.workflow_file(&ty, &path))
    }

    /// Configures namespace `name`, at every start, with `configure` (see
    /// [`HostBuilder::namespace`]).
    pub fn namespace(
        self,
        name: &str,
        configure: impl Fn(NamespaceBuilder) -> NamespaceBuilder + Send + Sync + 'static,
    ) -> TestHost {
        let name = name.to_string();
        self.with(move |b| b.namespace(&name, &configure))
    }

    /// [`TestHost::steps_in`] the default namespace.
    pub fn steps(self) -> TestHost {
        self.steps_in(Namespace::DEFAULT)
    }

    /// Registers in namespace `name` the activity `step`, which answers `{"i": n}` with
    /// `"step-n"`, and `step_renamed`, the same under the name [`crate::STEPS_CHANGED`]
    /// uses. Every run of either is counted in [`TestHost::step_runs`].
    pub fn steps_in(self, name: &str) -> TestHost {
        let runs = self.step_runs.clone();
        self.namespace(name, move |mut ns| {
            for ty in ["step", "step_renamed"] {
                let runs = runs.clone();
                ns = ns.activity(ty, move |_c: ActivityContext, v: Value| {
                    let runs = runs.clone();
                    async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ActivityError>(format!("step-{}", v["i"]))
                    }
                });
            }
            ns
        })
    }

    /// [`TestHost::builder`] with the default namespace's `step` activity answering only
    /// `{"i": n}` for `n < from`; an attempt for a later step never finishes (a shutdown aborts
    /// it). A test that must stop a `steps` run at a known point uses it for that start: the run
    /// cannot get past step `from` however fast the machine is.
    pub fn builder_holding_steps_from(&self, from: u64) -> HostBuilder {
        let runs = self.step_runs.clone();
        self.builder()
            .activity("step", move |_c: ActivityContext, v: Value| {
                let runs = runs.clone();
                async move {
                    if v["i"].as_u64().is_none_or(|i| i >= from) {
                        std::future::pending::<()>().await;
                    }
                    runs.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ActivityError>(format!("step-{}", v["i"]))
                }
            })
    }

    /// Keeps compiled code in the cache directory every test shares (target/test-compile-cache),
    /// so a large Python or TypeScript component is compiled once per machine, not per host.
    pub fn shared_compile_cache(self) -> TestHost {
        let dir = shared_compile_cache_dir();
        self.with(move |b| b.compile_cache(&dir))
    }

    /// Registers [`order_activities`] in namespace `name`.
    pub fn order_activities_in(self, name: &str) -> TestHost {
        self.namespace(name, order_activities)
    }

    /// Adds a step of configuration applied to the [`HostBuilder`] at every start, for what
    /// the other methods do not cover.
    pub fn with(
        mut self,
        configure: impl Fn(HostBuilder) -> HostBuilder + Send + Sync + 'static,
    ) -> TestHost {
        self.setup.push(Arc::new(configure));
        self
    }

    /// How many times the activities of [`TestHost::steps`] ran, over all starts.
    pub fn step_runs(&self) -> usize {
        self.step_runs.load(Ordering::SeqCst)
    }

    /// A [`HostBuilder`] on the database file with the limits and every registration made so
    /// far, to add to for one start.
    pub fn builder(&self) -> HostBuilder {
        let builder = HostBuilder::new(&self.db).limits(self.limits.clone());
        self.setup.iter().fold(builder, |b, configure| configure(b))
    }

    /// Starts a host from [`TestHost::builder`], or returns why it did not start.
    pub async fn try_start(&self) -> Result<Host, HostError> {
        self.builder().start().await
    }

    /// Starts a host from [`TestHost::builder`]; panics if it does not start.
    pub async fn start(&self) -> Host {
        self.try_start().await.expect("start the test host")
    }
}

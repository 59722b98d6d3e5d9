//! Component versions and replays against a component: registering a version, the dry-run
//! check of open runs and moving the compatible ones, and replaying a closed run's history
//! (stored, or saved anywhere) to the same commands and result.

use super::HostError;
use super::client::{Client, check_name};
use crate::history::{Event, EventKind};
use crate::ids::{RunId, WorkflowId};
use serde::Serialize;
use tracing::info;

/// What replaying the open runs of a workflow type against a component version found
/// ([`Client::check_workflow`], [`Client::move_compatible_runs`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VersionCheck {
    /// The version checked.
    pub digest: String,
    /// Open runs whose histories it replays (moved to it by `move_compatible_runs`).
    pub compatible: Vec<String>,
    /// Open runs it would diverge from, with the reason; they stay on their version.
    pub incompatible: Vec<Divergence>,
    /// Open runs already on this version.
    pub unchanged: Vec<String>,
}

/// An open run a component version would diverge from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Divergence {
    /// The workflow.
    pub workflow_id: String,
    /// What the replay found (the non-determinism message, a panic).
    pub reason: String,
}

impl Client {
    /// Registers a version of workflow type `workflow_type`'s component in this namespace
    /// while the host runs, and returns its digest (`sha256:<hex>` of the bytes). The component
    /// is checked as at start (size, validity, imports, world); a refused one changes nothing.
    /// New runs of the type get this version; runs already started keep the version they are
    /// pinned to while this host has it ([`Client::move_compatible_runs`] moves them).
    pub async fn register_workflow(
        &self,
        workflow_type: &str,
        component: Vec<u8>,
    ) -> Result<String, HostError> {
        let compiled = self.compile(workflow_type, component).await?;
        if !self.inner.serves(&self.namespace) {
            return Err(HostError::UnknownNamespace(self.namespace.to_string()));
        }
        let digest = compiled.digest().to_string();
        self.rt().register(workflow_type, compiled);
        info!(namespace = %self.namespace, workflow_type, %digest, "workflow component registered");
        self.inner.bump();
        Ok(digest)
    }

    async fn compile(
        &self,
        workflow_type: &str,
        component: Vec<u8>,
    ) -> Result<crate::sandbox::CompiledWorkflow, HostError> {
        check_name("workflow type", workflow_type)?;
        let inner = self.inner.clone();
        let ty = workflow_type.to_string();
        tokio::task::spawn_blocking(move || {
            let digest = crate::sandbox::component_digest(&component);
            let last = inner.last_compiled.lock().expect("compile memo").clone();
            if let Some(c) = last.filter(|c| c.digest() == digest) {
                return Ok(c);
            }
            let compiled = inner.sandbox.compile(&ty, &component)?;
            *inner.last_compiled.lock().expect("compile memo") = Some(compiled.clone());
            Ok(compiled)
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))?
    }

    /// Dry run of a new version of `workflow_type`'s component: replays the history of every
    /// open run of the type (up to its last completed Workflow Task) against `component` and
    /// reports which would go on and which would diverge (non-determinism, a panic), with the
    /// reason. Registers and records nothing.
    pub async fn check_workflow(
        &self,
        workflow_type: &str,
        component: Vec<u8>,
    ) -> Result<VersionCheck, HostError> {
        let compiled = self.compile(workflow_type, component).await?;
        self.check_runs(workflow_type, compiled, false).await
    }

    /// Moves every open run of `workflow_type` whose history the newest registered version
    /// replays without diverging to that version (from its next Workflow Task); runs that would
    /// diverge stay on their version. Returns the check, as [`Client::check_workflow`].
    pub async fn move_compatible_runs(
        &self,
        workflow_type: &str,
    ) -> Result<VersionCheck, HostError> {
        let Some(newest) = self.rt().components().newest(workflow_type).cloned() else {
            return Err(HostError::UnknownWorkflowType(
                workflow_type.to_string(),
                self.rt().components().types().join(", "),
            ));
        };
        self.check_runs(workflow_type, newest, true).await
    }

    async fn check_runs(
        &self,
        workflow_type: &str,
        compiled: crate::sandbox::CompiledWorkflow,
        move_compatible: bool,
    ) -> Result<VersionCheck, HostError> {
        let (inner, ns, ty) = (
            self.inner.clone(),
            self.namespace.clone(),
            workflow_type.to_string(),
        );
        let rt = self.rt();
        tokio::task::spawn_blocking(move || {
            let mut check = VersionCheck {
                digest: compiled.digest().to_string(),
                ..VersionCheck::default()
            };
            for (id, run, rec) in inner.store.list(&ns)? {
                if rec.workflow_type != ty || rec.status.is_closed() {
                    continue;
                }
                let pinned = inner.store.component_of(run)?;
                if pinned.as_deref() == Some(compiled.digest()) {
                    check.unchanged.push(id.to_string());
                    continue;
                }
                let (rec, history) = inner.store.load_run(run)?;
                match crate::workflow_task::check_open_run(
                    &inner.sandbox,
                    &compiled,
                    &rt.limits,
                    &rt.served,
                    run,
                    &rec,
                    &history,
                ) {
                    Ok(()) => {
                        if move_compatible {
                            inner.store.pin_component(run, compiled.digest(), true)?;
                        }
                        check.compatible.push(id.to_string());
                    }
                    Err(reason) => check.incompatible.push(Divergence {
                        workflow_id: id.to_string(),
                        reason,
                    }),
                }
            }
            Ok::<_, HostError>(check)
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))?
    }

    /// Replays the current run of workflow `id` against its registered component and checks
    /// that it ends with the same commands and result (an open run: that it replays through
    /// its last completed Workflow Task). An error names the divergence.
    pub fn verify_replay(&self, id: &str) -> Result<(), HostError> {
        let (run, rec) = self
            .inner
            .store
            .current_run(&self.namespace, &WorkflowId(id.to_string()))?;
        let components = self.rt().components();
        let pinned = self.inner.store.component_of(run)?;
        let compiled = pinned
            .as_deref()
            .and_then(|d| components.version(d))
            .or_else(|| components.newest(&rec.workflow_type))
            .ok_or_else(|| {
                HostError::UnknownWorkflowType(
                    rec.workflow_type.clone(),
                    components.types().join(", "),
                )
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

    /// Replays a run's `history`, recorded anywhere (another host, a file, a test fixture),
    /// against `component` and checks that the code ends with the same commands and result,
    /// as [`Client::verify_replay`] does for a stored run (an open run's history must replay
    /// through its last completed Workflow Task). `workflow_id` and `run` are
    /// the ids the run had (the code sees them through `info`). Nothing is registered or
    /// recorded; the component is compiled (or loaded from the compiled-code cache) for this
    /// call. An error names the divergence.
    pub async fn replay_history(
        &self,
        component: Vec<u8>,
        workflow_id: &str,
        run: RunId,
        history: Vec<Event>,
    ) -> Result<(), HostError> {
        let workflow_type = match history.first().map(|e| &e.kind) {
            Some(EventKind::WorkflowExecutionStarted { workflow_type, .. }) => {
                workflow_type.clone()
            }
            _ => {
                return Err(HostError::InvalidArgument(
                    "the history does not start with WorkflowExecutionStarted".into(),
                ));
            }
        };
        check_name("workflow id", workflow_id)?;
        let compiled = self.compile(&workflow_type, component).await?;
        let inner = self.inner.clone();
        let rt = self.rt();
        let workflow_id = WorkflowId(workflow_id.to_string());
        tokio::task::spawn_blocking(move || {
            crate::workflow_task::verify_replay(
                &inner.sandbox,
                &compiled,
                &rt.limits,
                &rt.served,
                run,
                workflow_id,
                &history,
            )
        })
        .await
        .map_err(|e| HostError::Engine(e.to_string()))?
        .map_err(HostError::ReplayDiverged)
    }
}

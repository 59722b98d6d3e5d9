//! The Nexus task queue: what a queue worker leases from it, and delivering one leased start or cancel to the
//! operation's handler (or the built-in workflow operation). What an outcome records is the
//! store's.

use super::queue_worker::{Free, Leased, TaskSource};
use crate::api::host::Inner;
use crate::history::{Failure, Payload};
use crate::ids::{EventId, Namespace, RunId, WorkflowId};
use crate::nexus::{NexusContext, NexusHandler, NexusStart};
use crate::store::{
    LeasedNexus, NexusCallback, NexusOutcome, NexusReport, NexusTaskKind, StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{error, info, warn};

/// The host's Nexus task queue (all namespaces), served by a queue worker.
pub(super) struct NexusQueue;

impl TaskSource for NexusQueue {
    type Task = LeasedNexus;
    const WHAT: &'static str = "Nexus";

    fn next_due(&self, inner: &Inner) -> Option<u64> {
        inner.store.next_nexus().unwrap_or(None)
    }

    async fn lease(
        &self,
        inner: &Arc<Inner>,
        now: u64,
        free: usize,
    ) -> Result<Leased<LeasedNexus>, StoreError> {
        // Each task's namespace must get a slot of its fair share; the others stay queued.
        let pool = inner.nexus_slots.clone();
        let tasks =
            inner
                .store
                .lease_nexus(now, free, NEXUS_TASK_TIMEOUT.as_millis() as u64, |ns| {
                    pool.acquire(ns, 1).pop()
                })?;
        Ok(Leased {
            again: !tasks.is_empty(),
            tasks,
        })
    }

    fn wakeup<'a>(&'a self, inner: &'a Inner) -> &'a Notify {
        &inner.wake.nexus
    }

    fn finished(inner: &Inner) {
        // A handler may have committed through the store without reporting effects (the
        // built-in workflow operation starts or cancels a workflow): wake every loop.
        inner.bump();
    }

    async fn run(inner: &Arc<Inner>, task: LeasedNexus, free: Free) {
        run_nexus(inner, task).await;
        free();
    }
}

/// How long one Nexus task delivery may take before it is delivered again.
pub(in crate::api) const NEXUS_TASK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long after failed delivery `attempt` the next is made, ms.
pub(in crate::api) fn nexus_retry_delay(attempt: u32) -> u64 {
    crate::history::RetryPolicy::default().delay_before(attempt + 1)
}

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
    if rt.remote && !rt.nexus.contains_key(&key) {
        // A remote worker polling the endpoint takes it; the lease (NEXUS_TASK_TIMEOUT) delivers
        // it again if none reports in time.
        inner.nexus_mail.post(LeasedNexus {
            run,
            namespace,
            scheduled_event_id: sched,
            kind,
            task,
        });
        return;
    }
    let retry_at = || inner.now_ms() + nexus_retry_delay(task.attempt);
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
            let callback = NexusCallback {
                run,
                scheduled_event_id: sched,
            };
            let (request_id, input) = (&task.request_id, task.input.clone());
            start_backing_workflow(
                inner,
                &namespace,
                workflow_type,
                request_id,
                input,
                callback,
            )
            .await
            .unwrap_or_else(|failure| NexusReport::Retry {
                failure,
                retry_at_ms: retry_at(),
            })
        }
        (Some(NexusHandler::Workflow { .. }), NexusTaskKind::Cancel) => {
            let token = task.operation_token.clone().unwrap_or_default();
            cancel_backing_workflow(inner, &namespace, token)
                .await
                .unwrap_or_else(|failure| NexusReport::Retry {
                    failure,
                    retry_at_ms: retry_at(),
                })
        }
    };
    if let NexusReport::Retry { failure, .. } = &report {
        warn!(failure = %failure, "Nexus task failed; delivering it again later");
    }
    record_report(inner, run, sched, task.attempt, report).await;
}

/// Records what delivery `attempt` of the Nexus task scheduled at `sched` in `run` came to.
async fn record_report(
    inner: &Arc<Inner>,
    run: RunId,
    sched: EventId,
    attempt: u32,
    report: NexusReport,
) {
    let inner2 = inner.clone();
    let r = tokio::task::spawn_blocking(move || {
        inner2
            .store
            .report_nexus(run, sched, attempt, report, inner2.now_ms())
    })
    .await;
    match r {
        Ok(Ok(Some(fx))) => inner.apply(&fx),
        Ok(Ok(None)) => info!("the Nexus task's outcome came after the operation ended; dropped"),
        Ok(Err(e)) => error!("cannot record the Nexus task outcome: {e}"),
        Err(e) => error!("cannot record the Nexus task outcome: {e}"),
    }
}

/// The start of a built-in workflow operation: starts `workflow_type` with `input` as workflow
/// `nexus-<request_id>`, reporting its close to `callback`. `Err` is a failure worth
/// delivering the task again for.
async fn start_backing_workflow(
    inner: &Arc<Inner>,
    namespace: &Namespace,
    workflow_type: String,
    request_id: &str,
    input: Payload,
    callback: NexusCallback,
) -> Result<NexusReport, Failure> {
    let id = WorkflowId(format!("nexus-{request_id}"));
    let quota = inner.ns(namespace).start_quota;
    let inner2 = inner.clone();
    let ns = namespace.clone();
    let id2 = id.clone();
    let started = tokio::task::spawn_blocking(move || {
        inner2.store.start_workflow(
            &ns,
            &id2,
            &workflow_type,
            input,
            rand::random(),
            inner2.now_ms(),
            quota,
            Some(callback),
        )
    })
    .await;
    match started {
        Ok(Ok(_)) => Ok(NexusReport::Started {
            operation_token: id.0,
        }),
        Ok(Err(StoreError::AlreadyRunning(..))) => {
            Ok(NexusReport::Finished(NexusOutcome::Failed(Failure::new(
                "WorkflowAlreadyRunning",
                format!("workflow {id} is already running for another caller"),
            ))))
        }
        // Refused in the start's transaction: the operation fails, as a child start over the
        // quota fails.
        Ok(Err(e @ StoreError::QuotaExceeded { .. })) => {
            Ok(NexusReport::Finished(NexusOutcome::Failed(Failure::new(
                crate::history::child_start_cause::NAMESPACE_QUOTA,
                format!("the workflow backing the operation was not started: {e}"),
            ))))
        }
        Ok(Err(e @ StoreError::HistoryLimit(_))) => {
            Ok(NexusReport::Finished(NexusOutcome::Failed(Failure::new(
                crate::history::child_start_cause::HISTORY_LIMIT,
                format!("the workflow backing the operation was not started: {e}"),
            ))))
        }
        Ok(Err(e)) => Err(Failure::new("StartWorkflowFailed", e.to_string())),
        Err(e) => Err(Failure::new("StartWorkflowFailed", e.to_string())),
    }
}

/// The cancel of a built-in workflow operation: cancels the workflow `token` names (gone
/// already is fine). `Err` is a failure worth delivering the task again for.
async fn cancel_backing_workflow(
    inner: &Arc<Inner>,
    namespace: &Namespace,
    token: String,
) -> Result<NexusReport, Failure> {
    let id = WorkflowId(token);
    let inner2 = inner.clone();
    let ns = namespace.clone();
    let r = tokio::task::spawn_blocking(move || {
        inner2
            .store
            .cancel_nexus_workflow(&ns, &id, inner2.now_ms())
    })
    .await;
    match r {
        Ok(Ok(_)) | Ok(Err(StoreError::UnknownWorkflow(_))) => Ok(NexusReport::CancelDelivered),
        Ok(Err(e)) => Err(Failure::new("CancelWorkflowFailed", e.to_string())),
        Err(e) => Err(Failure::new("CancelWorkflowFailed", e.to_string())),
    }
}

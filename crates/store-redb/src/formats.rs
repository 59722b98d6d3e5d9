//! Run and activity records as older releases stored them, and the decoding of a run record
//! of any format version. Read by the tables and the schema 1 migration.

use super::*;

/// A run record as format versions 1 and 2 stored it (schema 2).
#[derive(Deserialize)]
pub(super) struct RunRecordV2 {
    pub(super) namespace: Namespace,
    pub(super) history_bytes: u64,
    pub(super) workflow_id: WorkflowId,
    pub(super) workflow_type: String,
    pub(super) status: RunStatus,
    pub(super) next_event_id: u64,
    pub(super) start_ms: u64,
    pub(super) close_ms: Option<u64>,
    pub(super) workflow_task: Option<PendingWorkflowTask>,
    pub(super) nexus_callback: Option<NexusCallback>,
}

impl From<RunRecordV2> for RunRecord {
    fn from(o: RunRecordV2) -> RunRecord {
        RunRecord {
            namespace: o.namespace,
            history_bytes: o.history_bytes,
            workflow_id: o.workflow_id,
            workflow_type: o.workflow_type,
            status: o.status,
            next_event_id: o.next_event_id,
            start_ms: o.start_ms,
            close_ms: o.close_ms,
            workflow_task: o.workflow_task,
            nexus_callback: o.nexus_callback,
            parent: None,
            children: Vec::new(),
            previous_run: None,
            next_run: None,
            attempt: 1,
            options: WorkflowOptions::default(),
            execution_deadline_ms: None,
            cancel_requested: false,
            id_reuse_policy: IdReusePolicy::default(),
        }
    }
}

/// Decodes a run record of any format version.
pub(super) fn decode_run(bytes: &[u8]) -> Result<RunRecord, EncodingError> {
    match bytes.first() {
        Some(1 | 2) => history::decode::<RunRecordV2>(bytes).map(RunRecord::from),
        _ => history::decode(bytes),
    }
}

/// A run record as schema 1 stored it (no namespace, no size).
#[derive(Deserialize)]
pub(super) struct RunRecordV1 {
    pub(super) workflow_id: WorkflowId,
    pub(super) workflow_type: String,
    pub(super) status: RunStatus,
    pub(super) next_event_id: u64,
    pub(super) start_ms: u64,
    pub(super) close_ms: Option<u64>,
    pub(super) workflow_task: Option<PendingWorkflowTask>,
}

/// An activity task as schema 1 stored it.
#[derive(Deserialize)]
pub(super) struct ActivityTaskV1 {
    pub(super) workflow_id: WorkflowId,
    pub(super) activity_type: String,
    pub(super) input: Payload,
    pub(super) attempt: u32,
    pub(super) start_to_close_timeout_ms: u64,
    pub(super) retry_policy: RetryPolicy,
    pub(super) visible_at_ms: u64,
    pub(super) leased: bool,
    pub(super) last_failure: Option<Failure>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    /// The layout release 0.1 (format version 2) wrote run records in.
    #[derive(Serialize)]
    pub(super) struct WrittenByV2 {
        namespace: Namespace,
        history_bytes: u64,
        workflow_id: WorkflowId,
        workflow_type: String,
        status: RunStatus,
        next_event_id: u64,
        start_ms: u64,
        close_ms: Option<u64>,
        workflow_task: Option<PendingWorkflowTask>,
        nexus_callback: Option<NexusCallback>,
    }

    #[test]
    pub(super) fn run_records_of_format_2_decode_with_defaults() {
        let old = WrittenByV2 {
            namespace: Namespace::new("acme").unwrap(),
            history_bytes: 120,
            workflow_id: WorkflowId::from("o-1"),
            workflow_type: "order".into(),
            status: RunStatus::Completed,
            next_event_id: 9,
            start_ms: 5,
            close_ms: Some(7),
            workflow_task: None,
            nexus_callback: None,
        };
        let mut bytes = vec![2u8];
        bytes.extend(postcard::to_stdvec(&old).unwrap());
        let rec = decode_run(&bytes).unwrap();
        assert_eq!(rec.workflow_id, WorkflowId::from("o-1"));
        assert_eq!(
            (rec.status, rec.next_event_id, rec.close_ms),
            (RunStatus::Completed, 9, Some(7))
        );
        assert_eq!(
            (rec.attempt, rec.parent.clone(), rec.children.len()),
            (1, None, 0)
        );
        // Written again, it carries the current version and decodes to the same record.
        assert_eq!(decode_run(&history::encode(&rec)).unwrap(), rec);
    }
}

//! redb tables: their definitions and the schema version, record decoding against them
//! (with the run record's usage accounting), and the schema 1 migration. No workflow rules.

use super::*;

/// Schema version of the tables written by this release. Version 1 (no namespaces) is
/// migrated when opened for writing.
pub const SCHEMA_VERSION: u64 = 3;

pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Schema 1 only: workflow id -> run id. Migrated into `ns_workflows`.
pub(super) const WORKFLOWS_V1: TableDefinition<&str, u128> = TableDefinition::new("workflows");
pub(super) const WORKFLOWS: TableDefinition<(&str, &str), u128> =
    TableDefinition::new("ns_workflows");
pub(super) const NS_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("ns_usage");
pub(super) const RUNS: TableDefinition<u128, &[u8]> = TableDefinition::new("runs");
pub(super) const HISTORY: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("history");
pub(super) const WORKFLOW_TASKS: TableDefinition<(u64, u128), ()> =
    TableDefinition::new("workflow_tasks");
pub(super) const ACTIVITY_TASKS: TableDefinition<(u128, u64), &[u8]> =
    TableDefinition::new("activity_tasks");
/// Schema 1 only: (visible at, run, scheduled event id). Migrated into `activity_queues`.
pub(super) const ACTIVITY_QUEUE_V1: TableDefinition<(u64, u128, u64), ()> =
    TableDefinition::new("activity_queue");
/// ("namespace/queue", visible at ms, run, scheduled event id) -> ().
pub(super) const ACTIVITY_QUEUE: TableDefinition<(&str, u64, u128, u64), ()> =
    TableDefinition::new("activity_queues");
/// (deadline ms, run, scheduled event id) -> kind: timeouts that fire without a worker.
pub(super) const DEADLINES: TableDefinition<(u64, u128, u64), u8> =
    TableDefinition::new("deadlines");
/// (run, scheduled event id) -> [`NexusTask`].
pub(super) const NEXUS_TASKS: TableDefinition<(u128, u64), &[u8]> =
    TableDefinition::new("nexus_tasks");
/// (visible at ms, run, scheduled event id) -> (): Nexus tasks (start or cancel) to deliver.
pub(super) const NEXUS_QUEUE: TableDefinition<(u64, u128, u64), ()> =
    TableDefinition::new("nexus_queue");
/// (namespace, operation token) -> (run, scheduled event id) of started async operations.
pub(super) const NEXUS_TOKENS: TableDefinition<(&str, &str), (u128, u64)> =
    TableDefinition::new("nexus_tokens");

pub(super) const TIMERS: TableDefinition<(u64, u128, u64), ()> = TableDefinition::new("timers");
/// Run id -> the digest of the workflow component the run is pinned to. Added without a schema
/// change: a file without it reads as having no pins.
pub(super) const RUN_COMPONENTS: TableDefinition<u128, &str> =
    TableDefinition::new("run_components");

pub(super) fn get_usage(
    usage: &impl ReadableTable<&'static str, (u64, u64)>,
    namespace: &Namespace,
) -> Result<NamespaceUsage, StoreError> {
    Ok(usage
        .get(namespace.as_str())
        .map_err(db_error)?
        .map(|v| {
            let (open_workflows, stored_bytes) = v.value();
            NamespaceUsage {
                open_workflows,
                stored_bytes,
            }
        })
        .unwrap_or_default())
}

/// Writes `rec` and moves its namespace's usage by the difference to the stored record, so
/// every run update keeps `ns_usage` exact.
pub(super) fn put_run(
    runs: &mut redb::Table<u128, &[u8]>,
    usage: &mut redb::Table<&str, (u64, u64)>,
    run: RunId,
    rec: &RunRecord,
) -> Result<(), StoreError> {
    let (was_open, old_bytes) = match runs.get(run.0).map_err(db_error)? {
        Some(v) => {
            let old: RunRecord =
                decode_run(v.value()).map_err(|source| StoreError::Encoding { run, source })?;
            (!old.status.is_closed(), old.history_bytes)
        }
        None => (false, 0),
    };
    runs.insert(run.0, history::encode(rec).as_slice())
        .map_err(db_error)?;
    let is_open = !rec.status.is_closed();
    if was_open != is_open || old_bytes != rec.history_bytes {
        let mut u = get_usage(usage, &rec.namespace)?;
        u.open_workflows =
            (u.open_workflows + u64::from(is_open)).saturating_sub(u64::from(was_open));
        u.stored_bytes = (u.stored_bytes + rec.history_bytes).saturating_sub(old_bytes);
        usage
            .insert(rec.namespace.as_str(), (u.open_workflows, u.stored_bytes))
            .map_err(db_error)?;
    }
    Ok(())
}

/// Schema 1 -> 2: every workflow moves into the default namespace; run records gain their
/// namespace, history size and Nexus callback; activity tasks gain their queue, timeouts and
/// heartbeat state and move to the per-queue index; namespace usage is counted.
pub(super) fn migrate_v1(tx: &redb::WriteTransaction) -> Result<(), StoreError> {
    let default = Namespace::default_namespace();
    {
        let old = tx.open_table(WORKFLOWS_V1).map_err(db_error)?;
        let mut new = tx.open_table(WORKFLOWS).map_err(db_error)?;
        for entry in old.iter().map_err(db_error)? {
            let (k, v) = entry.map_err(db_error)?;
            new.insert((default.as_str(), k.value()), v.value())
                .map_err(db_error)?;
        }
    }
    tx.delete_table(WORKFLOWS_V1).map_err(db_error)?;
    {
        let mut runs = tx.open_table(RUNS).map_err(db_error)?;
        let history_t = tx.open_table(HISTORY).map_err(db_error)?;
        let mut usage = tx.open_table(NS_USAGE).map_err(db_error)?;
        let old: Vec<(u128, Vec<u8>)> = runs
            .iter()
            .map_err(db_error)?
            .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        for (id, bytes) in old {
            let run = RunId(id);
            let v1: RunRecordV1 =
                history::decode(&bytes).map_err(|source| StoreError::Encoding { run, source })?;
            let mut history_bytes = 0u64;
            for e in history_t
                .range((id, 0)..=(id, u64::MAX))
                .map_err(db_error)?
            {
                history_bytes += e.map_err(db_error)?.1.value().len() as u64;
            }
            let rec: RunRecord = RunRecordV2 {
                namespace: default.clone(),
                history_bytes,
                workflow_id: v1.workflow_id,
                workflow_type: v1.workflow_type,
                status: v1.status,
                next_event_id: v1.next_event_id,
                start_ms: v1.start_ms,
                close_ms: v1.close_ms,
                workflow_task: v1.workflow_task,
                nexus_callback: None,
            }
            .into();
            // Remove first so `put_run` counts the record as new.
            runs.remove(id).map_err(db_error)?;
            put_run(&mut runs, &mut usage, run, &rec)?;
        }
    }
    {
        let mut tasks = tx.open_table(ACTIVITY_TASKS).map_err(db_error)?;
        let mut queue = tx.open_table(ACTIVITY_QUEUE).map_err(db_error)?;
        let old: Vec<((u128, u64), Vec<u8>)> = tasks
            .iter()
            .map_err(db_error)?
            .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        let qk = queue_key(&default, history::DEFAULT_TASK_QUEUE);
        for ((run, sched), bytes) in old {
            let v1: ActivityTaskV1 =
                history::decode(&bytes).map_err(|source| StoreError::Encoding {
                    run: RunId(run),
                    source,
                })?;
            let task = ActivityTask {
                workflow_id: v1.workflow_id,
                activity_type: v1.activity_type,
                input: v1.input,
                attempt: v1.attempt,
                start_to_close_timeout_ms: v1.start_to_close_timeout_ms,
                retry_policy: v1.retry_policy,
                visible_at_ms: v1.visible_at_ms,
                leased: v1.leased,
                last_failure: v1.last_failure,
                task_queue: history::DEFAULT_TASK_QUEUE.to_string(),
                scheduled_ms: 0,
                schedule_to_close_timeout_ms: None,
                schedule_to_start_timeout_ms: None,
                heartbeat_timeout_ms: None,
                attempt_started_ms: v1
                    .visible_at_ms
                    .saturating_sub(v1.start_to_close_timeout_ms),
                heartbeat_details: None,
                last_heartbeat_ms: None,
                cancel_requested: false,
            };
            tasks
                .insert((run, sched), history::encode(&task).as_slice())
                .map_err(db_error)?;
            queue
                .insert((qk.as_str(), task.visible_at_ms, run, sched), ())
                .map_err(db_error)?;
        }
    }
    tx.delete_table(ACTIVITY_QUEUE_V1).map_err(db_error)?;
    Ok(())
}

/// The record of operation `sched` of `run` in a (run, event id)-keyed table.
pub(super) fn get_record<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(u128, u64), &'static [u8]>,
    run: RunId,
    sched: u64,
) -> Result<Option<T>, StoreError> {
    match table.get((run.0, sched)).map_err(db_error)? {
        None => Ok(None),
        Some(v) => history::decode(v.value())
            .map(Some)
            .map_err(|source| StoreError::Encoding { run, source }),
    }
}

/// Records of a (run, event id)-keyed table with their keys.
pub(super) type Records<T> = Vec<((u128, u64), T)>;

/// Every record of a (run, event id)-keyed table in `range`, decoded.
pub(super) fn decode_records<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<(u128, u64), &'static [u8]>,
    range: impl std::ops::RangeBounds<(u128, u64)>,
) -> Result<Records<T>, StoreError> {
    table
        .range(range)
        .map_err(db_error)?
        .map(|e| {
            let (k, v) = e.map_err(db_error)?;
            let record = history::decode(v.value()).map_err(|source| StoreError::Encoding {
                run: RunId(k.value().0),
                source,
            })?;
            Ok((k.value(), record))
        })
        .collect()
}

//! Every limit of the host in one place, with documented defaults.
//!
//! This module only holds numbers; each limit is enforced where its comment says.

use std::time::Duration;

/// Limits on workflows, tasks and payloads.
///
/// ```
/// use std::time::Duration;
/// use weft_core::limits::Limits;
/// let limits = Limits { max_task_time: Duration::from_secs(5), ..Limits::default() };
/// assert_eq!(limits.max_payload_bytes, 2 * 1024 * 1024);
/// assert_eq!(limits.workflow_task_backoff(2), Duration::from_secs(1)); // first retry
/// assert_eq!(limits.workflow_task_backoff(40), Duration::from_secs(600)); // capped
/// ```
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest payload (workflow input or result, activity input or result). Enforced by the
    /// host API on start, by `replay` on commands and by `activity` on results. Default 2 MiB,
    /// Temporal's blob limit.
    pub max_payload_bytes: usize,
    /// Most events in one run's history. Checked by `store` before every commit that appends
    /// to a run: a change that would pass it is not committed, and the run is terminated
    /// instead (WorkflowExecutionTerminated), as Temporal does, except for a signal, which is
    /// refused to its sender. Also `replay` and `workflow_task`. Default 51,200 as in
    /// Temporal.
    pub max_history_events: u64,
    /// Largest encoded history of one run, bytes; enforced by `store` as
    /// `max_history_events`. Default 50 MiB.
    pub max_history_bytes: u64,
    /// A Workflow Task of a run whose history has more events than this logs a warning.
    /// Default 10,240, Temporal's warning level.
    pub warn_history_events: u64,
    /// Same, in bytes. Default 10 MiB.
    pub warn_history_bytes: u64,
    /// Most new commands in one Workflow Task; enforced by `replay`. Default 1,000.
    pub max_commands_per_task: usize,
    /// Wall-clock time one Workflow Task may run the guest, counted from the start of the task
    /// whether the guest computes or not: enforced inside the guest by epoch interruption in
    /// `sandbox`, and from outside by the workflow-task loop's watchdog (this limit plus
    /// [`Limits::task_watchdog_grace`]). Host calls never block, so a guest cannot hide from
    /// it. Default 2 s.
    pub max_task_time: Duration,
    /// How long past [`Limits::max_task_time`] the watchdog outside the guest waits before it
    /// gives up on a Workflow Task (recorded as failed, its slot released). Default 1 s.
    pub task_watchdog_grace: Duration,
    /// Linear memory of one workflow instance, enforced by a `StoreLimits` in `sandbox`.
    /// Default 256 MiB.
    pub max_memory_bytes: usize,
    /// Table elements of one instance; `sandbox`. Default 100,000.
    pub max_table_elements: usize,
    /// Wasm stack of one instance; `sandbox` engine config. Default 512 KiB.
    pub max_wasm_stack_bytes: usize,
    /// Size of a component file accepted at registration; `sandbox`. Default 32 MiB.
    pub max_component_bytes: usize,
    /// Backoff of Workflow Task retries: first delay. Default 1 s.
    pub workflow_task_retry_initial: Duration,
    /// Backoff of Workflow Task retries: largest delay. Default 10 min, as Temporal's
    /// `workflowTaskRetryMaxInterval`.
    pub workflow_task_retry_max: Duration,
    /// Activities run at once by this host. Default 64.
    pub max_concurrent_activities: usize,
    /// Workflow Tasks run at once by this host. Default: number of CPUs.
    pub max_concurrent_workflow_tasks: usize,
    /// Workflow instances kept suspended between tasks (the sticky cache), so a task resumes
    /// them instead of replaying the history; least recently used are evicted. 0 turns the
    /// cache off. Default 128.
    pub sticky_cache_entries: usize,
    /// Linear memory the cached instances may hold together. Default 2 GiB: room for all 128
    /// entries when they are interpreters (a CPython or StarlingMonkey instance holds several
    /// MiB of linear memory, mostly untouched pages; 512 MiB held 47 of them), so Python and
    /// TypeScript runs do not start their interpreter on every task.
    pub sticky_cache_memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 2 * 1024 * 1024,
            max_history_events: 51_200,
            max_history_bytes: 50 * 1024 * 1024,
            warn_history_events: 10_240,
            warn_history_bytes: 10 * 1024 * 1024,
            max_commands_per_task: 1_000,
            max_task_time: Duration::from_secs(2),
            task_watchdog_grace: Duration::from_secs(1),
            max_memory_bytes: 256 * 1024 * 1024,
            max_table_elements: 100_000,
            max_wasm_stack_bytes: 512 * 1024,
            max_component_bytes: 32 * 1024 * 1024,
            workflow_task_retry_initial: Duration::from_secs(1),
            workflow_task_retry_max: Duration::from_secs(600),
            max_concurrent_activities: 64,
            max_concurrent_workflow_tasks: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            sticky_cache_entries: 128,
            sticky_cache_memory_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Delay before Workflow Task attempt `next_attempt` (2 = first retry): doubling from the
    /// initial delay, capped at the maximum.
    pub fn workflow_task_backoff(&self, next_attempt: u32) -> Duration {
        let exp = next_attempt.saturating_sub(2).min(30);
        self.workflow_task_retry_initial
            .saturating_mul(1u32 << exp)
            .min(self.workflow_task_retry_max)
    }
}

"""weft: write durable workflows in Python.

A workflow is an ``async def`` registered with :func:`workflow`; it is built into a
WebAssembly component (``weft build python workflow.py -o workflow.wasm``) that weft runs from
its recorded history. Await weft's operations (activities, timers, child workflows...), never
``asyncio``::

    import weft

    @weft.workflow
    async def greet(name: str) -> str:
        await weft.sleep(1)
        return await weft.execute_activity("greet", {"name": name})

See docs/python.md.
"""

from ._codec import (
    ActivityError,
    CancelledError,
    ChildWorkflowError,
    ExternalWorkflowError,
    Failure,
    NexusOperationError,
)
from ._operations import (
    ActivityHandle,
    CancellationType,
    ChildWorkflowHandle,
    Duration,
    ExternalWorkflowHandle,
    NexusOperationHandle,
    ParentClosePolicy,
    RetryPolicy,
    TimerHandle,
    cancel_external_workflow,
    execute_activity,
    execute_child_workflow,
    execute_nexus_operation,
    gather,
    signal_external_workflow,
    sleep,
    start_activity,
    start_child_workflow,
    start_nexus_operation,
    start_timer,
    wait_condition,
    wait_first,
)
from ._runtime import Task
from ._workflow import (
    Info,
    SignalChannel,
    all_handlers_finished,
    cancel_reason,
    continue_as_new,
    deprecate_patch,
    info,
    is_cancel_requested,
    now,
    now_ms,
    patched,
    random,
    random_u64,
    set_query_handler,
    set_signal_handler,
    set_update_handler,
    signal_channel,
    spawn,
    uuid4,
    workflow,
)


class WitWorld:
    """The component's export (componentize-py instantiates it): runs the registered
    workflow. A :class:`Failure` ends the run with ``err``; any other exception traps, which
    fails the Workflow Task and leaves the execution open."""

    def run(self, input: bytes) -> bytes:
        from ._runtime import run

        return run(input)


__all__ = [
    "ActivityError",
    "ActivityHandle",
    "CancellationType",
    "CancelledError",
    "ChildWorkflowError",
    "ChildWorkflowHandle",
    "Duration",
    "ExternalWorkflowError",
    "ExternalWorkflowHandle",
    "Failure",
    "Info",
    "NexusOperationError",
    "NexusOperationHandle",
    "ParentClosePolicy",
    "RetryPolicy",
    "SignalChannel",
    "Task",
    "TimerHandle",
    "WitWorld",
    "all_handlers_finished",
    "cancel_external_workflow",
    "cancel_reason",
    "continue_as_new",
    "deprecate_patch",
    "execute_activity",
    "execute_child_workflow",
    "execute_nexus_operation",
    "gather",
    "info",
    "is_cancel_requested",
    "now",
    "now_ms",
    "patched",
    "random",
    "random_u64",
    "set_query_handler",
    "set_signal_handler",
    "set_update_handler",
    "signal_channel",
    "signal_external_workflow",
    "sleep",
    "spawn",
    "start_activity",
    "start_child_workflow",
    "start_nexus_operation",
    "start_timer",
    "uuid4",
    "wait_condition",
    "wait_first",
]

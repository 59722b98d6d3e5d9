"""Operations a workflow starts and waits on: activities, timers, child workflows, Nexus
operations and requests to other workflows; and the ways to wait on several
(:func:`gather`, :func:`wait_first`, :func:`wait_condition`)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
from datetime import timedelta
from typing import Any, Awaitable, Callable, List, Optional, Sequence, Union

from . import _runtime as rt
from ._codec import (
    ActivityError,
    CancelledError,
    ChildWorkflowError,
    ExternalWorkflowError,
    Failure,
    NexusOperationError,
    decode_or_fail,
    encode,
)

Duration = Union[timedelta, int, float]
"""A duration: a :class:`datetime.timedelta`, or seconds as a number."""


def to_ms(d: Optional[Duration]) -> Optional[int]:
    """Milliseconds of a duration (``None`` stays ``None``)."""
    if d is None:
        return None
    if isinstance(d, timedelta):
        ms = d // timedelta(milliseconds=1)
    else:
        ms = round(float(d) * 1000)
    if ms < 0:
        raise ValueError(f"a duration must not be negative: {d!r}")
    return int(ms)


@dataclasses.dataclass
class RetryPolicy:
    """How an activity (or a child workflow) is retried. Defaults follow Temporal's."""

    initial_interval: Duration = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    #: Default: 100 x the initial interval.
    maximum_interval: Optional[Duration] = None
    #: Attempts in all, the first included; 0 is unlimited.
    maximum_attempts: int = 0
    non_retryable_error_types: Sequence[str] = ()

    def _to_wit(self) -> Any:
        initial = to_ms(self.initial_interval) or 0
        maximum = to_ms(self.maximum_interval)
        return rt.wit.RetryPolicy(
            initial_interval_ms=initial,
            backoff_coefficient=float(self.backoff_coefficient),
            maximum_interval_ms=initial * 100 if maximum is None else maximum,
            maximum_attempts=int(self.maximum_attempts),
            non_retryable_error_types=list(self.non_retryable_error_types),
        )


class CancellationType(enum.Enum):
    """How the wait on an activity or child workflow asked to cancel ends (Temporal's
    cancellation types)."""

    #: Wait until the operation ends: canceled, or its result if it finished anyway (default).
    WAIT_CANCELLATION_COMPLETED = "wait_cancellation_completed"
    #: Request the cancel and end the wait as canceled at once.
    TRY_CANCEL = "try_cancel"
    #: Tell the operation nothing and end the wait as canceled at once.
    ABANDON = "abandon"
    #: Child workflows only: end the wait once the child's cancel request is recorded.
    WAIT_CANCELLATION_REQUESTED = "wait_cancellation_requested"

    def _to_wit(self) -> Any:
        return getattr(rt.wit.CancellationType, self.name)


class ParentClosePolicy(enum.Enum):
    """What happens to a child workflow when its parent's run closes."""

    TERMINATE = "terminate"
    REQUEST_CANCEL = "request_cancel"
    ABANDON = "abandon"


def _set_cancellation_type(handle: int, ty: Optional[CancellationType]) -> None:
    if ty is not None and ty is not CancellationType.WAIT_CANCELLATION_COMPLETED:
        rt.STATE.cancellation_types[handle] = ty._to_wit()


class _Operation:
    """An operation the workflow started, identified by its host handle. Await it for its
    outcome; awaiting again gives the same outcome."""

    _error = Failure
    _kind = "operation"

    def __init__(self, handle: int, name: str, result_type: Any = None) -> None:
        self.handle = handle
        self.name = name
        self._result_type = result_type

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} handle={self.handle}>"

    @property
    def done(self) -> bool:
        """True once the outcome is known to the workflow."""
        return self.handle in rt.STATE.outcomes

    def _wait(self) -> rt.Wait:
        return rt.Wait(handles=(self.handle,))

    def _outcome(self) -> Any:
        outcome = rt.consume(self.handle)
        what = f"{self._kind} '{self.name}'"
        if isinstance(outcome, rt.wit.Outcome_Completed):
            return decode_or_fail(f"result of {what}", outcome.value, self._result_type)
        if isinstance(outcome, rt.wit.Outcome_Failed):
            f = outcome.value
            if f.error_type == "Canceled":
                raise CancelledError._from_wit(f)
            raise self._error._from_wit(f)
        if isinstance(outcome, rt.wit.Outcome_Canceled):
            raise CancelledError(f"{what} was canceled")
        return True  # a timer fired

    def __await__(self):
        yield from self._wait().__await__()
        return self._outcome()

    def cancel(self) -> None:
        """Asks to cancel the operation; await it for how it ended."""
        rt.request_cancel(self.handle)


class ActivityHandle(_Operation):
    """A scheduled activity. ``await`` it for its result; it raises :class:`ActivityError`
    when the activity failed and :class:`CancelledError` when it was canceled."""

    _error = ActivityError
    _kind = "activity"


class TimerHandle(_Operation):
    """A durable timer. ``await`` it: True when it fired, False when it was canceled."""

    _kind = "timer"

    def __await__(self):
        yield from self._wait().__await__()
        return isinstance(rt.consume(self.handle), rt.wit.Outcome_Fired)

    def cancel(self) -> None:
        """Cancels the timer if it has not fired; awaiting it then gives False."""
        rt.host.request_cancel(self.handle)


class ChildWorkflowHandle(_Operation):
    """A started child workflow. ``await`` it for its result (raises
    :class:`ChildWorkflowError` or :class:`CancelledError`)."""

    _error = ChildWorkflowError
    _kind = "child workflow"


class NexusOperationHandle(_Operation):
    """A scheduled Nexus operation. ``await`` it for its result (raises
    :class:`NexusOperationError` or :class:`CancelledError`)."""

    _error = NexusOperationError
    _kind = "Nexus operation"

    def cancel(self) -> None:
        rt.host.request_cancel(self.handle)


class ExternalWorkflowHandle(_Operation):
    """A signal or cancel request sent to another workflow. ``await`` it: None once the
    target recorded it; raises :class:`ExternalWorkflowError` when it was refused."""

    _error = ExternalWorkflowError

    def __await__(self):
        yield from self._wait().__await__()
        outcome = rt.STATE.outcomes[self.handle]
        if isinstance(outcome, rt.wit.Outcome_Completed):
            rt.consume(self.handle)
            return None
        return self._outcome()

    def cancel(self) -> None:
        """Does nothing: a request to another workflow cannot be taken back."""


# --- Activities ------------------------------------------------------------------------------


def start_activity(
    activity_type: str,
    input: Any = None,
    *,
    start_to_close_timeout: Optional[Duration] = None,
    schedule_to_close_timeout: Optional[Duration] = None,
    schedule_to_start_timeout: Optional[Duration] = None,
    heartbeat_timeout: Optional[Duration] = None,
    task_queue: Optional[str] = None,
    retry_policy: Optional[RetryPolicy] = None,
    cancellation_type: Optional[CancellationType] = None,
    result_type: Any = None,
) -> ActivityHandle:
    """Schedules activity ``activity_type`` with ``input`` (encoded as JSON) and returns its
    handle at once. Options left ``None`` take the host's defaults (see the WIT contract).
    ``result_type`` (a dataclass, ``list[...]``...) converts the decoded result."""
    options = rt.wit.ActivityOptions(
        start_to_close_timeout_ms=to_ms(start_to_close_timeout),
        schedule_to_close_timeout_ms=to_ms(schedule_to_close_timeout),
        schedule_to_start_timeout_ms=to_ms(schedule_to_start_timeout),
        heartbeat_timeout_ms=to_ms(heartbeat_timeout),
        task_queue=task_queue,
        retry_policy=retry_policy._to_wit() if retry_policy is not None else None,
    )
    handle = rt.host.schedule_activity(activity_type, encode(input), options)
    _set_cancellation_type(handle, cancellation_type)
    return ActivityHandle(rt.track(handle), activity_type, result_type)


async def execute_activity(activity_type: str, input: Any = None, **options: Any) -> Any:
    """Schedules an activity (see :func:`start_activity` for the options) and waits for its
    result."""
    return await start_activity(activity_type, input, **options)


# --- Timers ----------------------------------------------------------------------------------


def start_timer(duration: Duration) -> TimerHandle:
    """Starts a durable timer that fires ``duration`` of workflow time from now."""
    ms = to_ms(duration)
    return TimerHandle(rt.track(rt.host.start_timer(ms)), f"{ms} ms")


async def sleep(duration: Duration) -> None:
    """Sleeps for ``duration`` (a timedelta or seconds) of workflow time. Raises
    :class:`CancelledError` when the workflow is canceled meanwhile."""
    if not await start_timer(duration):
        raise CancelledError("the sleep was canceled")


# --- Child workflows, Nexus, other workflows -------------------------------------------------


def start_child_workflow(
    workflow_type: str,
    workflow_id: str,
    input: Any = None,
    *,
    parent_close_policy: Optional[ParentClosePolicy] = None,
    execution_timeout: Optional[Duration] = None,
    run_timeout: Optional[Duration] = None,
    task_timeout: Optional[Duration] = None,
    retry_policy: Optional[RetryPolicy] = None,
    cancellation_type: Optional[CancellationType] = None,
    result_type: Any = None,
) -> ChildWorkflowHandle:
    """Starts child workflow ``workflow_id`` of ``workflow_type`` and returns its handle."""
    policy = parent_close_policy or ParentClosePolicy.TERMINATE
    options = rt.wit.ChildOptions(
        parent_close_policy=getattr(rt.wit.ParentClosePolicy, policy.name),
        execution_timeout_ms=to_ms(execution_timeout),
        run_timeout_ms=to_ms(run_timeout),
        task_timeout_ms=to_ms(task_timeout),
        retry_policy=retry_policy._to_wit() if retry_policy is not None else None,
    )
    handle = rt.host.start_child_workflow(workflow_type, workflow_id, encode(input), options)
    _set_cancellation_type(handle, cancellation_type)
    return ChildWorkflowHandle(rt.track(handle), workflow_id, result_type)


async def execute_child_workflow(
    workflow_type: str, workflow_id: str, input: Any = None, **options: Any
) -> Any:
    """Starts a child workflow (see :func:`start_child_workflow`) and waits for its result."""
    return await start_child_workflow(workflow_type, workflow_id, input, **options)


def start_nexus_operation(
    endpoint: str,
    service: str,
    operation: str,
    input: Any = None,
    *,
    schedule_to_close_timeout: Optional[Duration] = None,
    result_type: Any = None,
) -> NexusOperationHandle:
    """Schedules Nexus operation ``operation`` of ``service`` at ``endpoint``."""
    options = rt.wit.NexusOptions(schedule_to_close_timeout_ms=to_ms(schedule_to_close_timeout))
    handle = rt.host.schedule_nexus_operation(endpoint, service, operation, encode(input), options)
    name = f"{endpoint}/{service}/{operation}"
    return NexusOperationHandle(rt.track(handle), name, result_type)


async def execute_nexus_operation(
    endpoint: str, service: str, operation: str, input: Any = None, **options: Any
) -> Any:
    """Schedules a Nexus operation and waits for its result."""
    return await start_nexus_operation(endpoint, service, operation, input, **options)


def signal_external_workflow(
    workflow_id: str, signal_name: str, input: Any = None, *, run_id: Optional[str] = None
) -> ExternalWorkflowHandle:
    """Signals workflow ``workflow_id`` of this namespace (its run ``run_id``, or its current
    run). Await the handle to learn whether the signal was delivered."""
    handle = rt.host.signal_external_workflow(workflow_id, run_id, signal_name, encode(input))
    h = ExternalWorkflowHandle(handle, f"signal '{signal_name}' to workflow '{workflow_id}'")
    h._kind = "request"
    return h


def cancel_external_workflow(
    workflow_id: str, reason: str = "", *, run_id: Optional[str] = None
) -> ExternalWorkflowHandle:
    """Asks workflow ``workflow_id`` of this namespace to cancel. Await the handle to learn
    whether the request was recorded."""
    handle = rt.host.request_cancel_external_workflow(workflow_id, run_id, reason)
    h = ExternalWorkflowHandle(handle, f"cancel request to workflow '{workflow_id}'")
    h._kind = "request"
    return h


# --- Waiting on several ----------------------------------------------------------------------


def _as_waitable(aw: Any) -> Union[_Operation, rt.Task]:
    if isinstance(aw, (_Operation, rt.Task)):
        return aw
    if inspect.iscoroutine(aw):
        return rt.spawn_task(aw)
    raise TypeError(f"cannot wait on {aw!r}: pass weft operations, tasks or coroutines")


async def gather(*aws: Awaitable[Any]) -> List[Any]:
    """Waits for all of ``aws`` (operations, tasks or coroutines, which run as tasks
    concurrently) and returns their results in argument order. The first failure in argument
    order is raised as soon as it is reached; the other operations keep running."""
    items = [_as_waitable(aw) for aw in aws]
    return [await item for item in items]


async def wait_first(*aws: Awaitable[Any]) -> int:
    """Waits until one of ``aws`` (operations, tasks or coroutines) is done and returns its
    index: the one resolved first in the history, so replays choose the same. Read its result
    by awaiting it afterwards (it returns at once)."""
    if not aws:
        raise ValueError("wait_first needs at least one awaitable")
    items = [_as_waitable(aw) for aw in aws]
    st = rt.STATE
    handles = tuple(i.handle for i in items if isinstance(i, _Operation))
    tasks = [i for i in items if isinstance(i, rt.Task)]
    await rt.Wait(handles=handles, condition=lambda: any(t.done for t in tasks))

    def order(item: Any) -> float:
        if isinstance(item, rt.Task):
            return item._seq if item.done else float("inf")
        return st.order.get(item.handle, float("inf"))

    return min(range(len(items)), key=lambda i: (order(items[i]), i))


async def wait_condition(fn: Callable[[], bool], timeout: Optional[Duration] = None) -> bool:
    """Waits until ``fn()`` holds (it is checked whenever a message or an outcome arrived),
    or ``timeout`` of workflow time passed (a timer is started only when ``fn()`` does not
    hold at once): True when it holds, False on timeout. Raises :class:`CancelledError` if the
    workflow is canceled first. Keep ``fn`` free of side effects: it runs many times."""
    if fn():
        return True
    held = []

    def check() -> bool:
        # `fn` is evaluated once per check, and its result kept: it may have side effects.
        if fn():
            held.append(True)
            return True
        return rt.STATE.cancel is not None

    timer = start_timer(timeout) if timeout is not None else None
    await rt.Wait(handles=(timer.handle,) if timer else (), condition=check)
    if held:
        if timer is not None and not timer.done:
            timer.cancel()
            rt.STATE.pending.discard(timer.handle)
        return True
    if rt.STATE.cancel is not None:
        raise rt.canceled_while("waiting for a condition")
    rt.consume(timer.handle)
    return bool(fn())

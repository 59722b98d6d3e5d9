"""The workflow API that is not an operation: registration, messages (signals, queries,
updates, cancel requests), tasks, and what the host answers deterministically (time, random
numbers, info, versioning, continue-as-new)."""

from __future__ import annotations

import dataclasses
import inspect
import random as _random
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Coroutine, Optional, TypeVar

from . import _runtime as rt
from ._codec import decode_or_fail, encode

F = TypeVar("F", bound=Callable[..., Any])

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def workflow(fn: F) -> F:
    """Registers ``async def fn(input)`` as the workflow of this component.

    The input is decoded from JSON; when the parameter is annotated with a dataclass it is
    built from the object (recursively). Malformed input fails the execution with a
    non-retryable ``InvalidInput`` failure. The return value is encoded as JSON (dataclasses
    as objects in field order). Raise :class:`weft.Failure` to fail the execution.
    """
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@weft.workflow needs an async def, {fn.__name__} is not one")
    rt.register(fn)
    return fn


def spawn(coro: Coroutine[Any, Any, Any]) -> rt.Task:
    """Starts ``coro`` as a task beside the running code and returns it (await it for its
    result). Tasks run one at a time, in the order they were started, whenever the running one
    waits, so the interleaving is the same on every replay. A :class:`weft.Failure` the task
    raises is kept for its awaiter; any other exception fails the Workflow Task."""
    return rt.spawn_task(coro)


# --- Messages --------------------------------------------------------------------------------


def set_signal_handler(name: str, handler: Callable[..., Any]) -> None:
    """Registers the handler of signal ``name``: every signal of that name, also those
    recorded before it was registered, is handed to it in history order before the code goes
    on. It takes the decoded input (converted to its parameter's dataclass annotation) and may
    be ``async`` (it then runs as a task). A signal whose input does not decode is dropped
    with a message on stderr. A signal channel of the same name receives nothing afterwards."""
    st = rt.STATE
    st.signal_handlers[name] = handler
    for data in st.signals.pop(name, []):
        rt._signal(name, handler, data)


def set_query_handler(name: str, handler: Callable[..., Any]) -> None:
    """Registers the handler of query ``name``: a plain function that answers from the
    workflow's state (taking the decoded input, or no argument) and must not start
    anything."""
    rt.STATE.queries[name] = handler


def set_update_handler(
    name: str, handler: Callable[..., Any], validator: Optional[Callable[..., Any]] = None
) -> None:
    """Registers the handler of update ``name``. A new update first runs ``validator`` (a
    plain function taking the input): raising rejects the update and leaves no trace in the
    history. An accepted update runs ``handler``; a plain function completes the update at
    once, an ``async def`` runs as a task (it may wait on activities and timers) and completes
    it when it returns. Raising :class:`weft.Failure` from the handler fails the update."""
    rt.STATE.updates[name] = (handler, validator)


def all_handlers_finished() -> bool:
    """True when no async update handler is running: wait for it before returning
    (``await weft.wait_condition(weft.all_handlers_finished)``)."""
    return rt.STATE.handlers_running == 0


def is_cancel_requested() -> bool:
    """True once cancellation of the workflow was requested. Operations pending at that
    moment were asked to cancel; new ones (compensation) run normally."""
    return rt.STATE.cancel is not None


def cancel_reason() -> Optional[str]:
    """The reason given with the cancel request, once there is one."""
    return rt.STATE.cancel


class SignalChannel:
    """The signals named ``name`` that no handler takes, in history order. Signals that
    arrive before anyone reads them are buffered."""

    def __init__(self, name: str, value_type: Any = None) -> None:
        self.name = name
        self.value_type = value_type

    def _has(self) -> bool:
        return bool(rt.STATE.signals.get(self.name))

    def try_receive(self, default: Any = None) -> Any:
        """The next buffered signal's input, or ``default`` without waiting."""
        queue = rt.STATE.signals.get(self.name)
        if not queue:
            return default
        return decode_or_fail(f"signal '{self.name}'", queue.pop(0), self.value_type)

    async def receive(self) -> Any:
        """Waits for the next signal and returns its input. Raises
        :class:`weft.CancelledError` if the workflow is canceled before one arrives."""
        await rt.Wait(condition=lambda: self._has() or rt.STATE.cancel is not None)
        if not self._has():
            raise rt.canceled_while(f"waiting for signal '{self.name}'")
        return self.try_receive()


def signal_channel(name: str, value_type: Any = None) -> SignalChannel:
    """The channel of signals named ``name``; ``value_type`` (a dataclass...) converts each
    input."""
    return SignalChannel(name, value_type)


# --- Deterministic facts -----------------------------------------------------------------------


def now_ms() -> int:
    """Workflow time in milliseconds since the Unix epoch: when the current Workflow Task
    started. It does not advance while the code runs."""
    return rt.host.now_ms()


def now() -> datetime:
    """Workflow time as an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=now_ms())


def random_u64() -> int:
    """A pseudo-random 64-bit number from the run's generator: the same on every replay."""
    return rt.host.random_u64()


def random() -> _random.Random:
    """A :class:`random.Random` seeded once per run from :func:`random_u64` (on first use)."""
    st = rt.STATE
    if st.rng is None:
        st.rng = _random.Random(random_u64())
    return st.rng


def uuid4() -> str:
    """A random UUID (version 4 layout) from the run's generator, the same on every replay and
    the same the other weft SDKs give at the same point of the same history."""
    hi = random_u64()
    lo = random_u64()
    hi = (hi & ~0xF000 & 0xFFFF_FFFF_FFFF_FFFF) | 0x4000
    lo = (lo & ~(0xC0 << 56) & 0xFFFF_FFFF_FFFF_FFFF) | (0x80 << 56)
    return (
        f"{hi >> 32:08x}-{(hi >> 16) & 0xFFFF:04x}-{hi & 0xFFFF:04x}-"
        f"{lo >> 48:04x}-{lo & 0xFFFF_FFFF_FFFF:012x}"
    )


@dataclasses.dataclass(frozen=True)
class Info:
    """Facts about the running workflow."""

    workflow_id: str
    run_id: str
    workflow_type: str
    #: Attempt of the current Workflow Task (1 for the first).
    task_attempt: int
    #: Attempt of the execution (1 unless its retry policy started it again).
    attempt: int
    #: The run this one continues (continue-as-new or retry), if any.
    continued_from_run_id: Optional[str]
    #: The parent's workflow id, for a child workflow.
    parent_workflow_id: Optional[str]


def info() -> Info:
    """Facts about the running workflow."""
    i = rt.host.info()
    return Info(
        i.workflow_id,
        i.run_id,
        i.workflow_type,
        i.task_attempt,
        i.attempt,
        i.continued_from_run_id,
        i.parent_workflow_id,
    )


def patched(change_id: str) -> bool:
    """Versioning: True when the code runs past this point for the first time (and records
    ``change_id``) or replays a history that recorded it; False when it replays a history
    written before the change."""
    return rt.host.patched(change_id)


def deprecate_patch(change_id: str) -> None:
    """Marks a change whose old branch was removed once no run of the old code was open."""
    rt.host.deprecate_patch(change_id)


def continue_as_new(input: Any = None) -> None:
    """Ends this run and continues the workflow as a new run with ``input`` and a fresh
    history. Never returns."""
    data = encode(input)
    # Nothing recorded is left behind in this run.
    rt.deliver_pending()
    rt.host.continue_as_new(data)
    raise rt._Unreachable("continue-as-new does not return")

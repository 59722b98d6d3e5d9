"""Failures (the errors of workflow code and of the operations it waits on) and the JSON
encoding and decoding of inputs, results and outcomes.

Payloads are UTF-8 JSON, encoded compactly and stably
(``json.dumps(v, separators=(",", ":"), ensure_ascii=False)``), so that a Python workflow
sends byte-for-byte what a Rust workflow (serde_json) sends for the same key order.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Optional


class Failure(Exception):
    """An error a workflow reports, or that an operation it waited on ended with.

    Raising it from the workflow function fails the execution with this failure (an
    ``error_type`` of ``"Canceled"`` after a cancel request ends it as canceled). Any other
    exception escaping the workflow is a bug: it fails the Workflow Task, which is retried, and
    the execution stays open.

    Attributes:
        error_type: short machine-readable type, for example ``"CardDeclined"``.
        message: human-readable message.
        details: optional structured details (any JSON value).
        non_retryable: for activity failures, the activity was not retried because of it.
    """

    def __init__(
        self,
        error_type: str,
        message: str = "",
        details: Any = None,
        non_retryable: bool = False,
    ) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.details = details
        self.non_retryable = non_retryable

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.error_type!r}, {self.message!r})"

    @property
    def is_canceled(self) -> bool:
        """True for a ``Canceled`` failure."""
        return self.error_type == "Canceled"

    def _to_wit(self, wit: Any) -> Any:
        details = None if self.details is None else encode(self.details)
        return wit.Failure(
            error_type=self.error_type,
            message=self.message,
            details=details,
            non_retryable=bool(self.non_retryable),
        )

    @classmethod
    def _from_wit(cls, f: Any) -> "Failure":
        details = None
        if f.details is not None:
            try:
                details = json.loads(f.details)
            except ValueError:
                details = bytes(f.details).decode("utf-8", "replace")
        return cls(f.error_type, f.message, details, f.non_retryable)


class CancelledError(Failure):
    """A ``Canceled`` failure: an operation was canceled, or the workflow was asked to cancel
    while it waited. Raise it (or let it escape) after a cancel request to end the execution
    as canceled."""

    def __init__(self, message: str = "canceled", details: Any = None) -> None:
        super().__init__("Canceled", message, details, True)


class ActivityError(Failure):
    """An activity failed: the failure of its last attempt, or a timeout (error types
    ``StartToCloseTimeout``, ``ScheduleToCloseTimeout``, ``ScheduleToStartTimeout``,
    ``HeartbeatTimeout``)."""


class ChildWorkflowError(Failure):
    """A child workflow failed (its failure, or ``TimedOut``, ``Terminated``,
    ``WorkflowExecutionAlreadyStarted``)."""


class NexusOperationError(Failure):
    """A Nexus operation failed."""


class ExternalWorkflowError(Failure):
    """A signal or cancel request to another workflow was refused
    (``ExternalWorkflowExecutionNotFound``, ``HistoryLimitExceeded``)."""


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        # A set's order is not stable across builds (hash seed): encode it sorted.
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(value: Any) -> bytes:
    """Encodes ``value`` as compact JSON (dataclasses as objects, in field order)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


def decode(data: bytes, tp: Any = None) -> Any:
    """Decodes JSON ``data``; with ``tp`` (a dataclass, ``list[...]`` of them, ...) builds it."""
    value = json.loads(bytes(data).decode("utf-8"))
    return convert(value, tp) if tp is not None else value


def convert(value: Any, tp: Any) -> Any:
    """Builds an instance of ``tp`` from the decoded JSON ``value``: dataclasses from objects
    (recursively, by their field annotations; unknown keys are ignored, missing keys take the
    field defaults), ``list[T]``, ``tuple[...]``, ``dict[str, T]`` and ``Optional[T]`` element
    by element. Other types are returned unchanged."""
    if tp is None or tp is Any or value is None:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise TypeError(f"{tp.__name__} must be a JSON object, not {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: convert(value[f.name], hints.get(f.name))
            for f in dataclasses.fields(tp)
            if f.init and f.name in value
        }
        return tp(**kwargs)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, typing.List) and args and isinstance(value, list):
        return [convert(v, args[0]) for v in value]
    if origin is tuple and args and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0]) for v in value)
        return tuple(convert(v, t) for v, t in zip(value, args))
    if origin in (dict, typing.Dict) and len(args) == 2 and isinstance(value, dict):
        return {k: convert(v, args[1]) for k, v in value.items()}
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for t in args:
            if t is type(None):
                continue
            try:
                return convert(value, t)
            except (TypeError, ValueError):
                continue
        return value
    return value


def decode_or_fail(what: str, data: bytes, tp: Any = None) -> Any:
    """:func:`decode`, raising a non-retryable ``DecodeError`` failure."""
    try:
        return decode(data, tp)
    except Exception as e:  # noqa: BLE001 - any decoding problem is reported the same way
        raise Failure("DecodeError", f"{what} does not decode: {e}", None, True) from None


def encode_or_fail(what: str, value: Any) -> bytes:
    """:func:`encode`, raising a non-retryable ``EncodeError`` failure."""
    try:
        return encode(value)
    except (TypeError, ValueError) as e:
        raise Failure("EncodeError", f"{what} does not encode: {e}", None, True) from None


def first_param_type(fn: Any) -> Optional[Any]:
    """The annotation of ``fn``'s first parameter, if any."""
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params:
        return None
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolved forward references: no conversion
        return None
    return hints.get(params[0].name)


def accepts_argument(fn: Any) -> bool:
    """True when ``fn`` takes at least one positional argument."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )

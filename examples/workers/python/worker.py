#!/usr/bin/env python3
"""An external activity worker for weft, in plain Python (standard library only).

It long-polls a task queue of a `weft server` (docs/http-api.md), runs each activity task with
the handler registered for its activity type, and reports the result or the failure:

    python3 worker.py --address http://127.0.0.1:7233 --api-key KEY [--task-queue default]

The address and key can also come from WEFT_ADDRESS and WEFT_API_KEY. A handler takes the
task's input (a JSON value) and an `ActivityContext`, and returns a JSON-serializable result;
an exception fails the attempt with error_type = the exception's class name (the activity's
retry policy decides what happens next; raise `NonRetryable` to stop the retries). Long
handlers call `ctx.heartbeat(details)`; while a handler of an activity with a heartbeat timeout
runs, the worker also heartbeats on its own, and `ctx.cancel_requested` tells that the workflow
asked to cancel it.

SIGTERM or Ctrl-C stops the worker: a task in progress is finished and reported first. When the
server is unreachable (it may be restarting) the worker retries with a short backoff.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


# --- Handlers: activity type -> function(input, ctx) -> result -----------------------------


def step(input, ctx):
    """The `step` activity of weft's `steps` test workflow: {"i": n} -> "step-n"."""
    return f"step-{input['i']}"


def greet(input, ctx):
    """{"name": s} -> "hello, s"."""
    return f"hello, {input['name']}"


HANDLERS = {
    "step": step,
    # The same under the name the second version of `steps` uses for its second step.
    "step_renamed": step,
    "greet": greet,
}


# --- The worker ------------------------------------------------------------------------------


class NonRetryable(Exception):
    """Raise from a handler to fail the activity without further retries."""


class Shutdown(Exception):
    """Raised by the signal handler to abort an idle poll."""


class Unreachable(Exception):
    """The server could not be reached (connection refused or reset, timeout)."""


class HttpError(Exception):
    """The server answered with an error status."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Api:
    """The few routes a worker uses, as JSON over HTTP."""

    def __init__(self, address, api_key):
        if "://" not in address:
            address = "http://" + address
        self.base = address.rstrip("/")
        self.api_key = api_key

    def post(self, path, body, timeout):
        """POSTs `body` as JSON; returns (status, parsed JSON answer or None)."""
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw.strip() else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode(errors="replace") or e.reason
            raise HttpError(e.code, message) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            raise Unreachable(str(e)) from None


class ActivityContext:
    """What a handler may use besides its input: the task, heartbeats and cancellation."""

    def __init__(self, api, task):
        self.task = task
        self._api = api
        self._lock = threading.Lock()
        self.cancel_requested = False
        # True once the server said the attempt is no longer current (timed out, run closed,
        # server restarted): the result will be dropped, so a handler may stop early.
        self.lost = False

    @property
    def heartbeat_details(self):
        """The details of the last heartbeat of an earlier attempt (where to resume), or None."""
        return self.task.get("heartbeat_details")

    def heartbeat(self, details=None):
        """Records progress and extends the lease; returns True if cancellation was requested."""
        body = {"task_token": self.task["task_token"]}
        if details is not None:
            body["details"] = details
        with self._lock:
            try:
                _, answer = self._api.post("/v1/activity-tasks/heartbeat", body, timeout=30)
                self.cancel_requested = bool(answer and answer.get("cancel_requested"))
            except HttpError as e:
                if e.status == 404:
                    self.lost = True
                else:
                    log(f"heartbeat refused: {e}")
            except Unreachable as e:
                log(f"heartbeat not delivered ({e})")
        return self.cancel_requested


def log(message):
    print(f"worker: {message}", file=sys.stderr, flush=True)


class Worker:
    def __init__(self, api, task_queue, handlers, once=None, poll_wait_ms=20000):
        self.api = api
        self.task_queue = task_queue
        self.handlers = handlers
        self.once = once
        self.poll_wait_ms = poll_wait_ms
        self.stopping = False
        self.busy = False  # holding a task: finish it before stopping
        self.done = 0

    def request_stop(self, signum, _frame):
        self.stopping = True
        if not self.busy:
            raise Shutdown()  # aborts the poll in progress

    def run(self):
        path = f"/v1/task-queues/{urllib.parse.quote(self.task_queue, safe='')}/activity-tasks/poll"
        backoff = 0.1
        log(f"polling task queue {self.task_queue!r} at {self.api.base}")
        try:
            while not self.stopping and (self.once is None or self.done < self.once):
                try:
                    status, task = self.api.post(
                        path, {"wait_ms": self.poll_wait_ms}, timeout=self.poll_wait_ms / 1000 + 30
                    )
                except Unreachable as e:
                    log(f"server unreachable ({e}); retrying in {backoff:.1f} s")
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                except HttpError as e:
                    if e.status in (401, 403, 404):
                        log(f"poll refused: {e.message}")
                        return 1
                    log(f"poll failed ({e}); retrying in {backoff:.1f} s")
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.1
                if status == 204 or task is None:
                    continue  # no task within the wait: poll again
                self.busy = True
                try:
                    self.handle(task)
                finally:
                    self.busy = False
                self.done += 1
        except Shutdown:
            pass
        log(f"stopped after {self.done} task(s)")
        return 0

    def handle(self, task):
        kind = task["activity_type"]
        what = f"{kind} attempt {task.get('attempt')} of {task.get('workflow_id')}"
        handler = self.handlers.get(kind)
        ctx = ActivityContext(self.api, task)
        beating = threading.Event()
        beater = None
        timeout_ms = task.get("heartbeat_timeout_ms")
        if timeout_ms:
            # Heartbeat on our own well within the timeout while the handler runs.
            interval = max(timeout_ms / 3000, 0.1)

            def beat():
                while not beating.wait(interval):
                    ctx.heartbeat()

            beater = threading.Thread(target=beat, daemon=True)
            beater.start()
        try:
            if handler is None:
                raise NonRetryable(f"this worker has no handler for activity type {kind!r}")
            result = handler(task.get("input"), ctx)
        except Exception as e:  # every failure of a handler is reported, the worker goes on
            failure = {
                "error_type": type(e).__name__,
                "message": str(e),
                "non_retryable": isinstance(e, NonRetryable),
            }
            if ctx.cancel_requested:
                failure["error_type"] = "Canceled"
            log(f"{what} failed: {failure['error_type']}: {failure['message']}")
            self.report("/v1/activity-tasks/fail", {"task_token": task["task_token"], "failure": failure})
            return
        finally:
            beating.set()
            if beater is not None:
                beater.join()
        log(f"{what} completed")
        self.report("/v1/activity-tasks/complete", {"task_token": task["task_token"], "result": result})

    def report(self, path, body):
        """Delivers an outcome, retrying while the server is unreachable (for up to a minute)."""
        backoff = 0.1
        deadline = time.monotonic() + 60
        while True:
            try:
                self.api.post(path, body, timeout=30)
                return
            except HttpError as e:
                # 404: the attempt is no longer current (timed out, run closed, or a restarted
                # server released it); it is retried elsewhere, so drop this outcome.
                log(f"outcome not accepted ({e.message}); dropped")
                return
            except Unreachable as e:
                if time.monotonic() > deadline:
                    log(f"outcome not delivered ({e}); dropped, the task will be retried")
                    return
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A weft activity worker (Python).")
    parser.add_argument("--address", default=os.environ.get("WEFT_ADDRESS"),
                        help="the weft server, e.g. http://127.0.0.1:7233 (env WEFT_ADDRESS)")
    parser.add_argument("--api-key", default=os.environ.get("WEFT_API_KEY"),
                        help="a namespace key (env WEFT_API_KEY)")
    parser.add_argument("--task-queue", default="default", help="the task queue to serve")
    parser.add_argument("--once", type=int, metavar="N", help="exit after N tasks")
    parser.add_argument("--poll-wait-ms", type=int, default=20000,
                        help="how long one poll waits on the server")
    args = parser.parse_args(argv)
    if not args.address:
        parser.error("--address (or WEFT_ADDRESS) is required")
    worker = Worker(Api(args.address, args.api_key), args.task_queue, HANDLERS,
                    once=args.once, poll_wait_ms=args.poll_wait_ms)
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())

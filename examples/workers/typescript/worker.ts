// An external activity worker for weft in TypeScript (Node 20, built-in fetch, no runtime
// dependencies).
//
// It long-polls a task queue of a `weft server` (docs/http-api.md), runs each activity task
// with the handler registered for its activity type, and reports the result or the failure:
//
//     npm install && npm run build
//     node dist/worker.js --address http://127.0.0.1:7233 --api-key KEY [--task-queue default]
//
// The address and key can also come from WEFT_ADDRESS and WEFT_API_KEY. A handler takes the
// task's input (a JSON value) and an ActivityContext and returns a JSON result (or a promise
// of one); a thrown error fails the attempt with error_type = the error's class name (the
// activity's retry policy decides what happens next; throw NonRetryable to stop the retries).
// Long handlers call `ctx.heartbeat(details)`; while a handler of an activity with a
// heartbeat timeout runs, the worker also heartbeats on its own, and `ctx.cancelRequested`
// tells that the workflow asked to cancel it.
//
// SIGTERM or Ctrl-C stops the worker: a task in progress is finished and reported first. When
// the server is unreachable (it may be restarting) the worker retries with a short backoff.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An activity task as the poll route hands it out. */
interface ActivityTask {
  task_token: string;
  workflow_id: string;
  run_id: string;
  activity_id: string;
  activity_type: string;
  task_queue: string;
  input: Json;
  attempt: number;
  heartbeat_details?: Json;
  start_to_close_timeout_ms: number;
  heartbeat_timeout_ms?: number | null;
}

type Handler = (input: any, ctx: ActivityContext) => Json | Promise<Json>;

// --- Handlers: activity type -> function(input, ctx) -> result ------------------------------

const handlers: Record<string, Handler> = {
  /** The `step` activity of weft's `steps` test workflow: {"i": n} -> "step-n". */
  step: (input: { i: number }) => `step-${input.i}`,
  /** The same under the name the second version of `steps` uses for its second step. */
  step_renamed: (input: { i: number }) => `step-${input.i}`,
  /** {"name": s} -> "hello, s". */
  greet: (input: { name: string }) => `hello, ${input.name}`,
};

// --- The worker ------------------------------------------------------------------------------

/** Throw from a handler to fail the activity without further retries. */
export class NonRetryable extends Error {
  override name = "NonRetryable";
}

/** The server could not be reached (connection refused or reset). */
class Unreachable extends Error {
  override name = "Unreachable";
}

/** The server answered with an error status. */
class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`${status}: ${message}`);
  }
}

function log(message: string): void {
  process.stderr.write(`worker: ${message}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The few routes a worker uses, as JSON over HTTP. */
class Api {
  readonly base: string;

  constructor(
    address: string,
    private readonly apiKey: string | undefined,
  ) {
    this.base = (address.includes("://") ? address : `http://${address}`).replace(/\/+$/, "");
  }

  /** POSTs `body` as JSON; returns the status and the parsed answer (null for none). */
  async post(path: string, body: unknown, signal?: AbortSignal): Promise<[number, any]> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (this.apiKey) headers["Authorization"] = `Bearer ${this.apiKey}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.base + path, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (e) {
      if (signal?.aborted) throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Unreachable(cause?.code ?? cause?.message ?? String(e));
    }
    if (!response.ok) {
      let message = text || response.statusText;
      try {
        message = JSON.parse(text).error.message ?? message;
      } catch {
        // not the server's JSON error: keep the text
      }
      throw new HttpError(response.status, message);
    }
    return [response.status, text.trim() ? JSON.parse(text) : null];
  }
}

/** What a handler may use besides its input: the task, heartbeats and cancellation. */
export class ActivityContext {
  cancelRequested = false;
  /** True once the server said the attempt is no longer current: its result will be dropped. */
  lost = false;

  constructor(
    private readonly api: Api,
    readonly task: ActivityTask,
  ) {}

  /** The details of the last heartbeat of an earlier attempt (where to resume), if any. */
  get heartbeatDetails(): Json | undefined {
    return this.task.heartbeat_details;
  }

  /** Records progress and extends the lease; resolves to true if cancellation was requested. */
  async heartbeat(details?: Json): Promise<boolean> {
    const body: Record<string, unknown> = { task_token: this.task.task_token };
    if (details !== undefined) body.details = details;
    try {
      const [, answer] = await this.api.post("/v1/activity-tasks/heartbeat", body);
      this.cancelRequested = Boolean(answer?.cancel_requested);
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) this.lost = true;
      else log(`heartbeat not delivered (${(e as Error).message})`);
    }
    return this.cancelRequested;
  }
}

class Worker {
  private stopping = false;
  private busy = false;
  private idlePoll: AbortController | undefined;
  private done = 0;

  constructor(
    private readonly api: Api,
    private readonly taskQueue: string,
    private readonly handlers: Record<string, Handler>,
    private readonly once: number | undefined,
    private readonly pollWaitMs: number,
  ) {}

  /** Stops after the task in progress, or at once when idle (the poll is aborted). */
  requestStop(): void {
    this.stopping = true;
    if (!this.busy) this.idlePoll?.abort();
  }

  async run(): Promise<number> {
    const path = `/v1/task-queues/${encodeURIComponent(this.taskQueue)}/activity-tasks/poll`;
    let backoff = 100;
    log(`polling task queue '${this.taskQueue}' at ${this.api.base}`);
    while (!this.stopping && (this.once === undefined || this.done < this.once)) {
      this.idlePoll = new AbortController();
      let status: number;
      let task: ActivityTask | null;
      try {
        [status, task] = await this.api.post(
          path,
          { wait_ms: this.pollWaitMs },
          this.idlePoll.signal,
        );
      } catch (e) {
        if (this.stopping) break;
        if (e instanceof HttpError && [401, 403, 404].includes(e.status)) {
          log(`poll refused: ${e.message}`);
          return 1;
        }
        log(`poll failed (${(e as Error).message}); retrying in ${backoff} ms`);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      backoff = 100;
      if (status === 204 || task === null) continue; // no task within the wait: poll again
      this.busy = true;
      try {
        await this.handle(task);
      } finally {
        this.busy = false;
      }
      this.done += 1;
    }
    log(`stopped after ${this.done} task(s)`);
    return 0;
  }

  private async handle(task: ActivityTask): Promise<void> {
    const what = `${task.activity_type} attempt ${task.attempt} of ${task.workflow_id}`;
    const ctx = new ActivityContext(this.api, task);
    const handler = this.handlers[task.activity_type];
    let beater: NodeJS.Timeout | undefined;
    if (task.heartbeat_timeout_ms) {
      // Heartbeat on our own well within the timeout while the handler runs.
      const interval = Math.max(task.heartbeat_timeout_ms / 3, 100);
      beater = setInterval(() => void ctx.heartbeat(), interval);
    }
    let result: Json;
    try {
      if (!handler) {
        throw new NonRetryable(`this worker has no handler for activity type '${task.activity_type}'`);
      }
      result = await handler(task.input, ctx);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const failure = {
        error_type: ctx.cancelRequested ? "Canceled" : err.name || err.constructor.name,
        message: err.message,
        non_retryable: err instanceof NonRetryable,
      };
      log(`${what} failed: ${failure.error_type}: ${failure.message}`);
      await this.report("/v1/activity-tasks/fail", { task_token: task.task_token, failure });
      return;
    } finally {
      if (beater) clearInterval(beater);
    }
    log(`${what} completed`);
    await this.report("/v1/activity-tasks/complete", {
      task_token: task.task_token,
      result: result === undefined ? null : result,
    });
  }

  /** Delivers an outcome, retrying while the server is unreachable (for up to a minute). */
  private async report(path: string, body: unknown): Promise<void> {
    let backoff = 100;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await this.api.post(path, body);
        return;
      } catch (e) {
        if (e instanceof HttpError) {
          // 404: the attempt is no longer current (timed out, run closed, or a restarted
          // server released it); it is retried elsewhere, so drop this outcome.
          log(`outcome not accepted (${e.message}); dropped`);
          return;
        }
        if (Date.now() > deadline) {
          log(`outcome not delivered (${(e as Error).message}); dropped, the task will be retried`);
          return;
        }
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }
}

/** `--name value` and `--name=value` options. */
function parseArgs(argv: string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(
        "usage: node dist/worker.js --address URL [--api-key KEY] [--task-queue default] [--once N] [--poll-wait-ms MS]\n",
      );
      process.exit(0);
    }
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf("=");
    if (eq > 0) {
      options.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${arg} needs a value`);
      options.set(arg.slice(2), value);
    }
  }
  for (const name of options.keys()) {
    if (!["address", "api-key", "task-queue", "once", "poll-wait-ms"].includes(name)) {
      throw new Error(`unknown option --${name}`);
    }
  }
  return options;
}

async function main(): Promise<number> {
  let options: Map<string, string>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    log((e as Error).message);
    return 2;
  }
  const address = options.get("address") ?? process.env.WEFT_ADDRESS;
  if (!address) {
    log("--address (or WEFT_ADDRESS) is required");
    return 2;
  }
  const once = options.has("once") ? Number(options.get("once")) : undefined;
  const worker = new Worker(
    new Api(address, options.get("api-key") ?? process.env.WEFT_API_KEY),
    options.get("task-queue") ?? "default",
    handlers,
    once,
    Number(options.get("poll-wait-ms") ?? 20_000),
  );
  process.on("SIGTERM", () => worker.requestStop());
  process.on("SIGINT", () => worker.requestStop());
  return worker.run();
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`fatal: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);

/**
 * weft's TypeScript SDK: write a durable workflow as an async function over native promises,
 * built into a WebAssembly component with `weft build typescript workflow.ts -o workflow.wasm`.
 *
 * ```ts
 * import { workflow, activity, sleep } from 'weft';
 *
 * workflow(async (order: { id: string }) => {
 *   const charged = await activity<{ charge_id: string }>('charge_card', order);
 *   await sleep(60_000);
 *   return { charge_id: charged.charge_id };
 * });
 * ```
 *
 * Workflow code must be deterministic: take time, randomness and everything else from this
 * SDK (or `Date`, `Math.random`, `crypto.getRandomValues`, which weft answers from the
 * history), and wait only on what this SDK returns.
 *
 * @packageDocumentation
 */

import * as host from 'weft:workflow/host@0.2.2';
import { CancelledFailure, Failure, decode, encode } from './failure.js';
import {
  deliverPending,
  fatal,
  registerQuery,
  registerSignal,
  registerUpdate,
  state,
  waitFor,
  waitOrCancel,
} from './runtime.js';
import { timer } from './operations.js';
import './timers.js';

export {
  Failure,
  CancelledFailure,
  ActivityFailure,
  ChildWorkflowFailure,
  NexusOperationFailure,
  ExternalWorkflowFailure,
  type FailureOptions,
} from './failure.js';
export { workflow, run, isCancelRequested, cancelReason, allHandlersFinished } from './runtime.js';
export {
  Operation,
  Activity,
  activity,
  proxyActivities,
  type ActivityProxy,
  type ActivityOptions,
  type RetryPolicy,
  type CancellationType,
  Timer,
  timer,
  sleep,
  ChildWorkflow,
  childWorkflow,
  type ChildOptions,
  type ParentClosePolicy,
  NexusOperation,
  nexusOperation,
  type NexusOptions,
  ExternalOperation,
  signalExternalWorkflow,
  cancelExternalWorkflow,
} from './operations.js';

// --- Waiting ------------------------------------------------------------------------------------

/**
 * Waits until `fn` holds (it is checked whenever workflow code ran or a result or message
 * arrived: check it against state that handlers change). With `timeoutMs`, waits at most that
 * much workflow time (a durable timer) and returns whether it holds. Rejects with
 * {@link CancelledFailure} if the workflow is canceled first.
 */
export async function condition(fn: () => boolean, timeoutMs?: number): Promise<boolean> {
  if (timeoutMs === undefined) {
    await waitOrCancel(fn, 'a condition');
    return true;
  }
  if (fn()) return true;
  const t = timer(timeoutMs);
  let fired: boolean | undefined;
  void t.then((f) => (fired = f));
  await waitFor(() => fired !== undefined || fn() || state.cancel !== undefined);
  if (fired === undefined && fn()) {
    t.cancel();
    return true;
  }
  if (fired === undefined || !fired) {
    if (state.cancel !== undefined) {
      throw new CancelledFailure('the workflow was canceled while waiting for a condition');
    }
  }
  return fn();
}

/**
 * Starts `fn` beside the main code and returns its promise. It runs whenever the other code
 * waits, in a deterministic interleaving. An exception that is not a {@link Failure} fails the
 * Workflow Task; a {@link Failure} only rejects the returned promise.
 */
export function spawn<T>(fn: () => Promise<T>): Promise<T> {
  const p = Promise.resolve().then(fn);
  p.catch((e: unknown) => {
    if (!(e instanceof Failure)) fatal(e);
  });
  return p;
}

// --- Messages -----------------------------------------------------------------------------------

/**
 * Registers the signal handler `name`: every signal of that name, also those recorded before
 * it was registered, is handed to it in history order before the workflow code goes on. A
 * signal whose input is not JSON is dropped (with a line on stderr). A {@link SignalChannel} of the same name receives
 * nothing once a handler is registered. An exception from the handler fails the Workflow Task.
 */
export function setSignalHandler<T = unknown>(name: string, handler: (input: T) => void | Promise<void>): void {
  registerSignal(name, (bytes) => {
    let input: T;
    try {
      input = decode<T>(`signal '${name}'`, bytes);
    } catch (e) {
      console.error(`signal '${name}' dropped: ${(e as Error).message}`);
      return;
    }
    const r = handler(input);
    if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).then(undefined, fatal);
  });
}

/** The signals named `name`, in the order the history recorded them. */
export class SignalChannel<T> {
  constructor(readonly name: string) {}

  /** The next buffered signal, without waiting. */
  tryReceive(): T | undefined {
    const queue = state.signals.get(this.name);
    const bytes = queue?.shift();
    return bytes === undefined ? undefined : decode<T>(`signal '${this.name}'`, bytes);
  }

  /** True when a signal is buffered. */
  get pending(): boolean {
    return (state.signals.get(this.name)?.length ?? 0) > 0;
  }

  /**
   * Waits for the next signal. Rejects with {@link CancelledFailure} if the workflow is
   * canceled before one arrives.
   */
  async receive(): Promise<T> {
    await waitOrCancel(() => this.pending, `signal '${this.name}'`);
    return this.tryReceive() as T;
  }
}

/** The channel of signals named `name` (signals sent before it was created are buffered). */
export function signalChannel<T = unknown>(name: string): SignalChannel<T> {
  return new SignalChannel<T>(name);
}

/**
 * Registers the query handler `name`. It answers synchronously from the workflow's state and
 * must not start anything. A {@link Failure} it throws is the query's error.
 */
export function setQueryHandler<I = unknown, O = unknown>(name: string, handler: (input: I) => O): void {
  const what = `query '${name}'`;
  registerQuery(name, (bytes) => encode(`result of ${what}`, handler(decode<I>(`input of ${what}`, bytes))));
}

/** Options of an update handler. */
export interface UpdateOptions<I> {
  /**
   * Runs before the update is accepted; throwing rejects the update, with nothing recorded. It
   * must not change state or start anything.
   */
  validator?: (input: I) => void;
}

/**
 * Registers the update handler `name`. An accepted update runs `handler` (sync or async: an
 * async handler runs beside the main code and may await activities and timers); its result or
 * the {@link Failure} it throws goes to the caller. Await `condition(allHandlersFinished)`
 * before returning from the workflow when handlers may still be running.
 */
export function setUpdateHandler<I = unknown, O = unknown>(
  name: string,
  handler: (input: I) => O | Promise<O>,
  options: UpdateOptions<I> = {},
): void {
  const what = `update '${name}'`;
  const { validator } = options;
  registerUpdate(
    name,
    (bytes) => {
      const out = handler(decode<I>(`input of ${what}`, bytes));
      if (out && typeof (out as Promise<O>).then === 'function') {
        return Promise.resolve(out).then((v) => encode(`result of ${what}`, v));
      }
      return encode(`result of ${what}`, out);
    },
    validator && ((bytes) => validator(decode<I>(`input of ${what}`, bytes))),
  );
}

// --- Deterministic facts ------------------------------------------------------------------------

/** Workflow time in milliseconds since the Unix epoch: when the current Workflow Task started. */
export function nowMs(): number {
  return Number(host.nowMs());
}

/** Workflow time as a `Date` (the same instant `Date.now()` gives in a workflow). */
export function now(): Date {
  return new Date(nowMs());
}

/** A pseudo-random 64-bit number, the same on every replay of this run. */
export function randomU64(): bigint {
  return host.randomU64();
}

const hex = (v: bigint, width: number): string => v.toString(16).padStart(width, '0');

/**
 * A random UUID (version 4 layout) from the workflow's deterministic generator: the same on
 * every replay, and the same as the Rust and Python SDKs give at the same point of a history.
 */
export function uuid4(): string {
  let hi = host.randomU64();
  let lo = host.randomU64();
  hi = (hi & ~0xf000n) | 0x4000n;
  lo = (lo & ~(0xc0n << 56n)) | (0x80n << 56n);
  return [
    hex(hi >> 32n, 8),
    hex((hi >> 16n) & 0xffffn, 4),
    hex(hi & 0xffffn, 4),
    hex(lo >> 48n, 4),
    hex(lo & 0xffffffffffffn, 12),
  ].join('-');
}

/** Facts about the running workflow. */
export interface WorkflowInfo {
  workflowId: string;
  runId: string;
  workflowType: string;
  /** Attempt of the current Workflow Task (1 for the first). */
  taskAttempt: number;
  /** Attempt of the execution (1 unless its retry policy started it again). */
  attempt: number;
  /** The run this one continues (continue-as-new or retry). */
  continuedFromRunId?: string;
  /** The parent's workflow id, for a child workflow. */
  parentWorkflowId?: string;
}

/** Facts about the running workflow. */
export function info(): WorkflowInfo {
  const i = host.info();
  const out: WorkflowInfo = {
    workflowId: i.workflowId,
    runId: i.runId,
    workflowType: i.workflowType,
    taskAttempt: i.taskAttempt,
    attempt: i.attempt,
  };
  if (i.continuedFromRunId !== undefined) out.continuedFromRunId = i.continuedFromRunId;
  if (i.parentWorkflowId !== undefined) out.parentWorkflowId = i.parentWorkflowId;
  return out;
}

/**
 * Versioning: true when the code runs past this point for the first time (and records
 * `changeId`) or replays a history that recorded it; false when it replays a history written
 * before the change.
 */
export function patched(changeId: string): boolean {
  return host.patched(changeId);
}

/** Marks a change whose old branch was removed once no run of the old code was open. */
export function deprecatePatch(changeId: string): void {
  host.deprecatePatch(changeId);
}

/**
 * Ends this run and continues the workflow as a new run with `input` and a fresh history.
 * Never returns.
 */
export function continueAsNew(input: unknown): never {
  const bytes = encode('input of continue-as-new', input);
  // Nothing recorded is left behind in this run.
  deliverPending();
  host.continueAsNew(bytes);
  throw new Error('continue-as-new returned');
}

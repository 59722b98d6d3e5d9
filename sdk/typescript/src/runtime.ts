/**
 * The run: the exported `run`, the run's state, the driver loop over `wait-any`, the delivery
 * of messages (signals, cancel requests, updates, queries) and conditions.
 *
 * The workflow function, update handlers and spawned tasks are ordinary async code over native
 * promises. Every operation (activity, timer, ...) is a promise-like object that only the
 * driver settles, from `wait-any`. The driver lets the microtask queue drain (a zero-delay
 * `setTimeout` runs only once it is empty), so at that point every piece of workflow code is
 * blocked on SDK operations or conditions; it then asks the host for the next of what is
 * awaited, in history order, settles it, hands over the pending messages and goes on. Nothing
 * depends on timing, so a replay goes through the same steps.
 */

import * as host from 'weft:workflow/host@0.2.2';
import type { WitMessage, WitOutcome, WitQueryRequest, WitResult, WitCancellationType } from 'weft:workflow/host@0.2.2';
import { CancelledFailure, Failure, decode, encode, errorText } from './failure.js';

/** @internal An operation the driver settles: see `operations.ts`. */
export interface Settleable {
  readonly handle: number;
  /** Someone awaits it: the driver waits for it. */
  awaited: boolean;
  /** Asked to cancel when the workflow is (not signals and cancel requests to other workflows). */
  readonly cancelWithWorkflow: boolean;
  settle(outcome: WitOutcome): void;
}

type SignalHandler = (input: Uint8Array) => void;
type QueryHandler = (input: Uint8Array) => Uint8Array;
type Validator = (input: Uint8Array) => void;
type UpdateHandler = (input: Uint8Array) => Uint8Array | Promise<Uint8Array>;

interface Waiter {
  test: () => boolean;
  resolve: () => void;
}

/** @internal What the SDK keeps of the run. */
export const state = {
  /** Operations whose outcome the code has not seen, by handle. */
  pending: new Map<number, Settleable>(),
  /** Cancellation types other than the default, by handle. */
  cancellationTypes: new Map<number, WitCancellationType>(),
  /** Signals no handler took, per name, for signal channels. */
  signals: new Map<string, Uint8Array[]>(),
  signalHandlers: new Map<string, SignalHandler>(),
  queries: new Map<string, QueryHandler>(),
  updates: new Map<string, { validator?: Validator; handler: UpdateHandler }>(),
  cancel: undefined as string | undefined,
  /** Conditions awaited, in the order they were created. */
  waiters: [] as Waiter[],
  /** Update handlers started and not finished. */
  runningHandlers: 0,
  /** Zero-delay `setTimeout` callbacks of workflow code not run yet (see `timers.ts`). */
  macrotasks: 0,
  /** An exception that must fail the Workflow Task (raised where the driver cannot see it). */
  fatal: undefined as { error: unknown } | undefined,
  workflow: undefined as ((input: any) => unknown) | undefined,
};

/** @internal Registers a new operation: the driver settles it. */
export function track(op: Settleable): void {
  state.pending.set(op.handle, op);
}

/** @internal Asks to cancel operation `h` with the cancellation type it was started with. */
export function requestCancel(h: number): void {
  const ty = state.cancellationTypes.get(h);
  // `request-cancel` keeps the component linking on hosts before WIT 0.2.2.
  if (ty === undefined || ty === 'wait-cancellation-completed') host.requestCancel(h);
  else host.requestCancelWith(h, ty);
}

/** @internal Makes the driver fail the Workflow Task with `error` (a trap). */
export function fatal(error: unknown): void {
  state.fatal ??= { error };
}

// --- Messages ---------------------------------------------------------------------------------

/**
 * @internal Hands every recorded message the code can see and has not handled yet to its
 * handler or channel, in history order: at the start of the workflow and after every wait.
 */
export function deliverPending(): void {
  for (const m of host.takeMessages()) dispatch(m);
}

function toResult(f: () => Uint8Array): WitResult {
  try {
    return { tag: 'ok', val: f() };
  } catch (e) {
    if (e instanceof Failure) return { tag: 'err', val: e.toWit() };
    throw e;
  }
}

function dispatch(m: WitMessage): void {
  switch (m.tag) {
    case 'signal': {
      const [name, input] = m.val;
      const handler = state.signalHandlers.get(name);
      if (handler) handler(input);
      else {
        const queue = state.signals.get(name) ?? [];
        queue.push(input);
        state.signals.set(name, queue);
      }
      return;
    }
    case 'cancel-requested': {
      state.cancel = m.val;
      // Cancel everything the workflow is waiting for, in handle order; operations started
      // from now on (compensation) are not canceled.
      const handles = [...state.pending.values()]
        .filter((op) => op.cancelWithWorkflow)
        .map((op) => op.handle)
        .sort((a, b) => a - b);
      for (const h of handles) requestCancel(h);
      return;
    }
    case 'update': {
      const u = m.val;
      const entry = state.updates.get(u.name);
      if (!entry) {
        if (u.validate) {
          host.rejectUpdate(
            u.id,
            Failure.nonRetryable('UnknownUpdate', `the workflow has no update handler named '${u.name}'`).toWit(),
          );
          return;
        }
        throw new Error(
          `the history accepted update '${u.name}' but the workflow has no handler for it at this point`,
        );
      }
      if (u.validate) {
        if (entry.validator) {
          try {
            entry.validator(u.input);
          } catch (e) {
            const f = e instanceof Failure ? e : new Failure(e instanceof Error ? e.name : 'Error', errorText(e));
            host.rejectUpdate(u.id, f.toWit());
            return;
          }
        }
        host.acceptUpdate(u.id);
      }
      let out: Uint8Array | Promise<Uint8Array>;
      try {
        out = entry.handler(u.input);
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        host.completeUpdate(u.id, { tag: 'err', val: e.toWit() });
        return;
      }
      if (out instanceof Uint8Array) {
        host.completeUpdate(u.id, { tag: 'ok', val: out });
        return;
      }
      // An async handler runs beside the main code.
      state.runningHandlers++;
      out.then(
        (val) => {
          state.runningHandlers--;
          host.completeUpdate(u.id, { tag: 'ok', val });
        },
        (e) => {
          state.runningHandlers--;
          if (e instanceof Failure) host.completeUpdate(u.id, { tag: 'err', val: e.toWit() });
          else fatal(e);
        },
      );
      return;
    }
    case 'query':
      answerQuery(m.val);
  }
}

function answerQuery(q: WitQueryRequest): never {
  const handler = state.queries.get(q.name);
  const outcome = toResult(() => {
    if (!handler) {
      throw Failure.nonRetryable('UnknownQuery', `the workflow has no query handler named '${q.name}'`);
    }
    return handler(q.input);
  });
  host.respondQuery(outcome);
  throw new Error('respond-query returned');
}

/** @internal Registers a signal handler and hands it the signals buffered for it. */
export function registerSignal(name: string, handler: SignalHandler): void {
  state.signalHandlers.set(name, handler);
  const buffered = state.signals.get(name) ?? [];
  state.signals.delete(name);
  for (const input of buffered) handler(input);
}

/** @internal Registers a query handler. */
export function registerQuery(name: string, handler: QueryHandler): void {
  state.queries.set(name, handler);
}

/** @internal Registers an update handler. */
export function registerUpdate(name: string, handler: UpdateHandler, validator?: Validator): void {
  state.updates.set(name, { handler, validator });
}

export { decode, encode };

// --- Conditions -------------------------------------------------------------------------------

/** @internal Resolves once `test` holds; checked whenever workflow code ran or something arrived. */
export function waitFor(test: () => boolean): Promise<void> {
  if (test()) return Promise.resolve();
  return new Promise((resolve) => state.waiters.push({ test, resolve }));
}

/** Resolves the waiters whose condition holds; true if any did. */
function checkWaiters(): boolean {
  let any = false;
  for (const w of [...state.waiters]) {
    if (w.test()) {
      state.waiters.splice(state.waiters.indexOf(w), 1);
      w.resolve();
      any = true;
    }
  }
  return any;
}

/** True once cancellation of the workflow was requested. */
export function isCancelRequested(): boolean {
  return state.cancel !== undefined;
}

/** The reason given with the cancel request, once there is one. */
export function cancelReason(): string | undefined {
  return state.cancel;
}

/** True when no update handler is running (await `condition(allHandlersFinished)` before returning). */
export function allHandlersFinished(): boolean {
  return state.runningHandlers === 0;
}

/** @internal Rejects with `Canceled` if the workflow was canceled before `test` held. */
export async function waitOrCancel(test: () => boolean, what: string): Promise<void> {
  await waitFor(() => test() || isCancelRequested());
  if (!test()) throw new CancelledFailure(`the workflow was canceled while waiting for ${what}`);
}

// --- The run ----------------------------------------------------------------------------------

/**
 * Registers `fn` as the workflow of this component (one per component). Its input is decoded
 * from JSON (malformed input fails the execution with `InvalidInput`), its result encoded with
 * `JSON.stringify`. Throwing a {@link Failure} fails the execution; any other exception fails
 * the Workflow Task, which is retried.
 */
export function workflow<I = any, O = unknown>(fn: (input: I) => O | Promise<O>): void {
  if (state.workflow) throw new Error('a component has one workflow: workflow() was called twice');
  state.workflow = fn;
}

// The runtime's own timer function, before `timers.ts` replaces the global one.
const nativeSetTimeout = globalThis.setTimeout;
const macrotask = (): Promise<void> => new Promise((resolve) => nativeSetTimeout(resolve, 0));

/** Fails the execution with `f` (the err of `run`). */
function failWith(f: Failure): never {
  throw { payload: f.toWit() };
}

/** Fails the Workflow Task (a trap): componentize-js traps on an exception without `payload`. */
function trap(e: unknown): never {
  // On stderr (when the component has stdio), which the host adds to the task's failure.
  console.error(`weft: ${errorText(e)}${e instanceof Error && e.stack ? `\n${e.stack}` : ''}`);
  throw new Error(`the workflow raised an exception that is not a Failure: ${errorText(e)}`);
}

/**
 * The export `run`: decodes the input, hands over the messages recorded before the first task,
 * runs the workflow function and drives it with `wait-any` until it settles, answers a query on a
 * closed workflow, and encodes the result.
 *
 * @internal Re-exported by the generated entry module; not for workflow code.
 */
export async function run(input: Uint8Array): Promise<Uint8Array> {
  const fn = state.workflow;
  if (!fn) trap('no workflow registered: call workflow(fn) in the workflow module');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(input));
  } catch (e) {
    failWith(Failure.nonRetryable('InvalidInput', `workflow input does not decode: ${errorText(e)}`));
  }
  deliverPending();
  let settled: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined;
  Promise.resolve()
    .then(() => fn(value))
    .then(
      (v) => (settled = { ok: true, value: v }),
      (e) => (settled = { ok: false, error: e }),
    );
  for (;;) {
    await macrotask();
    if (state.fatal) trap(state.fatal.error);
    if (settled) break;
    // Workflow code's own zero-delay timers run first (they were queued before this one).
    if (state.macrotasks > 0) continue;
    // Code that ran may have made conditions true: let it go on first.
    if (checkWaiters()) continue;
    const handles = [...state.pending.values()].filter((op) => op.awaited).map((op) => op.handle);
    const wake = host.waitAny(Uint32Array.from(handles));
    if (wake.tag === 'resolved') {
      const [h, outcome] = wake.val;
      const op = state.pending.get(h);
      state.pending.delete(h);
      op?.settle(outcome);
    } else {
      dispatch(wake.val);
    }
    deliverPending();
    checkWaiters();
  }
  deliverPending();
  const q = host.takeQuery();
  if (q) answerQuery(q);
  if (state.runningHandlers > 0) {
    console.error(
      `warning: the workflow finished while ${state.runningHandlers} update handler(s) were still running; await condition(allHandlersFinished) before returning`,
    );
  }
  if (!settled.ok) {
    if (settled.error instanceof Failure) failWith(settled.error);
    trap(settled.error);
  }
  try {
    return encode('workflow result', settled.value);
  } catch (e) {
    failWith(Failure.nonRetryable('InvalidOutput', e instanceof Failure ? e.message : errorText(e)));
  }
}

/**
 * Operations the workflow starts and awaits: activities, timers, child workflows, Nexus
 * operations, and signals and cancel requests to other workflows. Each is promise-like (await
 * it, or pass it to `Promise.all` / `Promise.race`) and settled only by the driver, from the
 * history, so which one settles first is the same on every replay.
 */

import * as host from 'weft:workflow/host@0.2.2';
import type { WitOutcome, WitRetryPolicy, WitCancellationType } from 'weft:workflow/host@0.2.2';
import {
  ActivityFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  ExternalWorkflowFailure,
  NexusOperationFailure,
  decodeOutcome,
  encode,
} from './failure.js';
import { requestCancel, state, track, type Settleable } from './runtime.js';

/**
 * Something the workflow waits on: settled by the driver with the operation's outcome. Awaiting
 * it (or calling `then`) makes the driver wait for it.
 */
export abstract class Operation<T> implements PromiseLike<T>, Settleable {
  /** The host handle (numbered from 0 in creation order). */
  readonly handle: number;
  /** @internal */
  awaited = false;
  /** @internal */
  readonly cancelWithWorkflow: boolean;
  /** @internal */
  readonly promise: Promise<T>;
  #resolve!: (v: T) => void;
  #reject!: (e: unknown) => void;

  protected constructor(handle: number, tracked = true) {
    this.handle = handle;
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A rejection nobody awaits is not an error.
    this.promise.catch(() => undefined);
    this.cancelWithWorkflow = tracked;
    track(this);
  }

  /** Awaits the operation. */
  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: any) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.awaited = true;
    return this.promise.then(onFulfilled, onRejected);
  }

  /** Awaits the operation, handling its failure. */
  catch<R = never>(onRejected?: ((reason: any) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onRejected);
  }

  /** @internal Called by the driver with the outcome. */
  settle(outcome: WitOutcome): void {
    try {
      this.#resolve(this.decode(outcome));
    } catch (e) {
      this.#reject(e);
    }
  }

  /** @internal */
  protected abstract decode(outcome: WitOutcome): T;
}

/** How an activity is retried. Defaults follow Temporal's. */
export interface RetryPolicy {
  /** Delay before the first retry (default 1000). */
  initialIntervalMs?: number;
  /** Multiplier of the delay after each retry (default 2). */
  backoffCoefficient?: number;
  /** Upper bound of the delay (default 100 x initial). */
  maximumIntervalMs?: number;
  /** Attempts in all, the first included; 0 is unlimited (default). */
  maximumAttempts?: number;
  /** Failures of these types are not retried. */
  nonRetryableErrorTypes?: string[];
}

/**
 * How the wait on an activity or child workflow asked to cancel ends: wait for the operation
 * to end (default), end at once as canceled after requesting (`try-cancel`), end at once
 * telling the operation nothing (`abandon`), or (children only) end once the child's cancel
 * request is recorded.
 */
export type CancellationType = WitCancellationType;

/** Options of one activity call; unset fields take the host's defaults. */
export interface ActivityOptions {
  startToCloseTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  scheduleToStartTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** The task queue (default `default`); the host must serve it in this namespace. */
  taskQueue?: string;
  retryPolicy?: RetryPolicy;
  /** What `cancel()` (or the workflow's own cancellation) waits for. */
  cancellationType?: CancellationType;
}

const ms = (v: number | undefined): bigint | undefined =>
  v === undefined ? undefined : BigInt(Math.max(0, Math.trunc(v)));

function retryToWit(p: RetryPolicy): WitRetryPolicy {
  const initial = p.initialIntervalMs ?? 1000;
  return {
    initialIntervalMs: BigInt(Math.trunc(initial)),
    backoffCoefficient: p.backoffCoefficient ?? 2,
    maximumIntervalMs: BigInt(Math.trunc(p.maximumIntervalMs ?? initial * 100)),
    maximumAttempts: p.maximumAttempts ?? 0,
    nonRetryableErrorTypes: p.nonRetryableErrorTypes ?? [],
  };
}

function setCancellationType(h: number, ty: CancellationType | undefined): void {
  if (ty !== undefined && ty !== 'wait-cancellation-completed') state.cancellationTypes.set(h, ty);
}

/** A scheduled activity whose result is `T`. Rejects with {@link ActivityFailure} or {@link CancelledFailure}. */
export class Activity<T> extends Operation<T> {
  readonly activityType: string;

  /** @internal */
  constructor(activityType: string, input: unknown, options: ActivityOptions) {
    const h = host.scheduleActivity(activityType, encode(`input of activity '${activityType}'`, input), {
      startToCloseTimeoutMs: ms(options.startToCloseTimeoutMs),
      scheduleToCloseTimeoutMs: ms(options.scheduleToCloseTimeoutMs),
      scheduleToStartTimeoutMs: ms(options.scheduleToStartTimeoutMs),
      heartbeatTimeoutMs: ms(options.heartbeatTimeoutMs),
      taskQueue: options.taskQueue,
      retryPolicy: options.retryPolicy && retryToWit(options.retryPolicy),
    });
    setCancellationType(h, options.cancellationType);
    super(h);
    this.activityType = activityType;
  }

  /** Asks to cancel the activity; await it for how it ended. */
  cancel(): void {
    requestCancel(this.handle);
  }

  /** @internal */
  protected decode(outcome: WitOutcome): T {
    return decodeOutcome<T>(`activity '${this.activityType}'`, outcome, ActivityFailure);
  }
}

/** Schedules activity `activityType` with `input` (JSON-encoded). It starts at once. */
export function activity<T = unknown>(activityType: string, input: unknown, options: ActivityOptions = {}): Activity<T> {
  return new Activity<T>(activityType, input, options);
}

/** The activity functions of {@link proxyActivities}. */
export type ActivityProxy<A> = {
  [K in keyof A]: A[K] extends (input: infer I) => infer O ? (input: I) => Activity<Awaited<O>> : never;
};

/**
 * Typed activity stubs: `const { charge_card } = proxyActivities<{ charge_card(c: Charge): Charged }>()`;
 * `await charge_card(c)` schedules activity `charge_card`.
 */
export function proxyActivities<A extends object>(options: ActivityOptions = {}): ActivityProxy<A> {
  return new Proxy({} as ActivityProxy<A>, {
    get: (_, name) => (input: unknown) => activity(String(name), input, options),
  });
}

/** A durable timer: resolves to true when it fired, false when canceled. */
export class Timer extends Operation<boolean> {
  /** @internal */
  constructor(durationMs: number) {
    super(host.startTimer(BigInt(Math.max(0, Math.trunc(durationMs)))));
  }

  /** Cancels the timer if it has not fired; it then resolves to false. */
  cancel(): void {
    host.requestCancel(this.handle);
  }

  /** @internal */
  protected decode(outcome: WitOutcome): boolean {
    return outcome.tag === 'fired';
  }
}

/** Starts a timer that fires `ms` milliseconds of workflow time from now. */
export function timer(ms: number): Timer {
  return new Timer(ms);
}

/**
 * Sleeps `ms` milliseconds of workflow time (a durable timer: survives restarts of the host).
 * Rejects with {@link CancelledFailure} when the workflow is canceled meanwhile.
 */
export async function sleep(ms: number): Promise<void> {
  if (!(await timer(ms))) throw new CancelledFailure('the sleep was canceled');
}

/** What happens to a running child when its parent's run closes (default `terminate`). */
export type ParentClosePolicy = 'terminate' | 'request-cancel' | 'abandon';

/** Options of a child workflow. */
export interface ChildOptions {
  parentClosePolicy?: ParentClosePolicy;
  executionTimeoutMs?: number;
  runTimeoutMs?: number;
  taskTimeoutMs?: number;
  retryPolicy?: RetryPolicy;
  cancellationType?: CancellationType;
}

/** A child workflow whose result is `T`. Rejects with {@link ChildWorkflowFailure} or {@link CancelledFailure}. */
export class ChildWorkflow<T> extends Operation<T> {
  readonly workflowId: string;

  /** @internal */
  constructor(workflowType: string, workflowId: string, input: unknown, options: ChildOptions) {
    const h = host.startChildWorkflow(workflowType, workflowId, encode(`input of child workflow ${workflowId}`, input), {
      parentClosePolicy: options.parentClosePolicy ?? 'terminate',
      executionTimeoutMs: ms(options.executionTimeoutMs),
      runTimeoutMs: ms(options.runTimeoutMs),
      taskTimeoutMs: ms(options.taskTimeoutMs),
      retryPolicy: options.retryPolicy && retryToWit(options.retryPolicy),
    });
    setCancellationType(h, options.cancellationType);
    super(h);
    this.workflowId = workflowId;
  }

  /** Asks the child to cancel; await it for how it ended. */
  cancel(): void {
    requestCancel(this.handle);
  }

  /** @internal */
  protected decode(outcome: WitOutcome): T {
    return decodeOutcome<T>(`child workflow '${this.workflowId}'`, outcome, ChildWorkflowFailure);
  }
}

/** Starts child workflow `workflowId` of `workflowType` in this namespace. */
export function childWorkflow<T = unknown>(
  workflowType: string,
  workflowId: string,
  input: unknown,
  options: ChildOptions = {},
): ChildWorkflow<T> {
  return new ChildWorkflow<T>(workflowType, workflowId, input, options);
}

/** Options of a Nexus operation. */
export interface NexusOptions {
  scheduleToCloseTimeoutMs?: number;
}

/** A Nexus operation whose result is `T`. Rejects with {@link NexusOperationFailure} or {@link CancelledFailure}. */
export class NexusOperation<T> extends Operation<T> {
  readonly name: string;

  /** @internal */
  constructor(endpoint: string, service: string, operation: string, input: unknown, options: NexusOptions) {
    const name = `${endpoint}/${service}/${operation}`;
    super(
      host.scheduleNexusOperation(endpoint, service, operation, encode(`input of Nexus operation ${name}`, input), {
        scheduleToCloseTimeoutMs: ms(options.scheduleToCloseTimeoutMs),
      }),
    );
    this.name = name;
  }

  /** Asks to cancel the operation; await it for how it ended. */
  cancel(): void {
    host.requestCancel(this.handle);
  }

  /** @internal */
  protected decode(outcome: WitOutcome): T {
    return decodeOutcome<T>(`Nexus operation ${this.name}`, outcome, NexusOperationFailure);
  }
}

/** Calls Nexus operation `operation` of `service` at `endpoint`. */
export function nexusOperation<T = unknown>(
  endpoint: string,
  service: string,
  operation: string,
  input: unknown,
  options: NexusOptions = {},
): NexusOperation<T> {
  return new NexusOperation<T>(endpoint, service, operation, input, options);
}

/** A signal or cancel request to another workflow: resolves once the target recorded it. */
export class ExternalOperation extends Operation<void> {
  readonly what: string;

  /** @internal */
  constructor(handle: number, what: string) {
    super(handle, false);
    this.what = what;
  }

  /** @internal */
  protected decode(outcome: WitOutcome): void {
    if (outcome.tag === 'completed') return;
    decodeOutcome<void>(this.what, outcome, ExternalWorkflowFailure);
  }
}

/** Signals workflow `workflowId` (its run `runId`, or its current run) with `name` and `input`. */
export function signalExternalWorkflow(workflowId: string, name: string, input: unknown, runId?: string): ExternalOperation {
  const h = host.signalExternalWorkflow(workflowId, runId, name, encode(`input of signal '${name}' to ${workflowId}`, input));
  return new ExternalOperation(h, `signal '${name}' to workflow '${workflowId}'`);
}

/** Asks workflow `workflowId` (its run `runId`, or its current run) to cancel. */
export function cancelExternalWorkflow(workflowId: string, reason = '', runId?: string): ExternalOperation {
  const h = host.requestCancelExternalWorkflow(workflowId, runId, reason);
  return new ExternalOperation(h, `cancel request to workflow '${workflowId}'`);
}

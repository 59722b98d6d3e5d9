/**
 * {@link Failure}, the error of workflow code and of the operations it waits on, and the JSON
 * encoding and decoding of payloads (whose errors are reported as failures).
 */

import type { WitFailure, WitOutcome } from 'weft:workflow/host@0.2.2';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of a {@link Failure}. */
export interface FailureOptions {
  /** Structured details (any JSON value), recorded JSON-encoded. */
  details?: unknown;
  /** For activity failures: not retried. Default false. */
  nonRetryable?: boolean;
}

/**
 * An error a workflow ends with, or an operation it waited on failed with. Throwing one from
 * the workflow function fails the execution (WorkflowExecutionFailed); any other exception
 * fails only the Workflow Task, which is retried while the execution stays open.
 */
export class Failure extends Error {
  /** Short machine-readable type, for example `CardDeclined`. */
  readonly errorType: string;
  /** Structured details, decoded from JSON (a string when they are not JSON). */
  readonly details: unknown;
  /** For activity failures: the activity was not retried because of this error. */
  readonly nonRetryable: boolean;

  constructor(errorType: string, message: string, options: FailureOptions = {}) {
    super(message);
    this.name = new.target.name;
    this.errorType = errorType;
    this.details = options.details;
    this.nonRetryable = options.nonRetryable ?? false;
  }

  /** A failure marked non-retryable. */
  static nonRetryable(errorType: string, message: string, details?: unknown): Failure {
    return new Failure(errorType, message, { details, nonRetryable: true });
  }

  /** True for a `Canceled` failure. */
  get isCanceled(): boolean {
    return this.errorType === 'Canceled';
  }

  /** `errorType: message`, as the Rust SDK displays a failure. */
  override toString(): string {
    return `${this.errorType}: ${this.message}`;
  }

  /** @internal The WIT record. */
  toWit(): WitFailure {
    return {
      errorType: this.errorType,
      message: this.message,
      details: this.details === undefined ? undefined : encoder.encode(JSON.stringify(this.details)),
      nonRetryable: this.nonRetryable,
    };
  }
}

/**
 * The failure that ends a workflow as canceled after a cancel request (error type `Canceled`,
 * non-retryable); also what an operation canceled on the workflow's behalf rejects with.
 */
export class CancelledFailure extends Failure {
  constructor(message = 'canceled', details?: unknown) {
    super('Canceled', message, { details, nonRetryable: true });
  }
}

/** The failure of an activity: the failure of its last attempt, or a timeout. */
export class ActivityFailure extends Failure {}
/** The failure of a child workflow (also `TimedOut`, `Terminated`, `WorkflowExecutionAlreadyStarted`). */
export class ChildWorkflowFailure extends Failure {}
/** The failure of a Nexus operation. */
export class NexusOperationFailure extends Failure {}
/** A signal or cancel request to another workflow that was not delivered. */
export class ExternalWorkflowFailure extends Failure {}

type FailureClass = new (errorType: string, message: string, options?: FailureOptions) => Failure;

/** @internal Decodes a WIT failure into `cls`. */
export function failureFromWit(f: WitFailure, cls: FailureClass = Failure): Failure {
  let details: unknown;
  if (f.details !== undefined) {
    const text = decoder.decode(f.details);
    try {
      details = JSON.parse(text);
    } catch {
      details = text;
    }
  }
  return new cls(f.errorType, f.message, { details, nonRetryable: f.nonRetryable });
}

/** @internal JSON-encodes a value (`undefined` as `null`). */
export function encode(what: string, value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw Failure.nonRetryable('EncodeError', `${what} does not encode: ${errorText(e)}`);
  }
  return encoder.encode(text ?? 'null');
}

/** @internal JSON-decodes a payload (an empty payload is `undefined`). */
export function decode<T>(what: string, bytes: Uint8Array): T {
  if (bytes.length === 0) return undefined as T;
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (e) {
    throw Failure.nonRetryable('DecodeError', `${what} does not decode: ${errorText(e)}`);
  }
}

/** @internal The value of an operation's outcome, or the failure it rejects with. */
export function decodeOutcome<T>(what: string, outcome: WitOutcome, cls: FailureClass): T {
  switch (outcome.tag) {
    case 'completed':
      return decode<T>(`result of ${what}`, outcome.val);
    case 'failed':
      throw failureFromWit(outcome.val, cls);
    case 'canceled':
      throw new CancelledFailure(`${what} was canceled`);
    case 'fired':
      throw new Error(`${what} resolved as a timer`);
  }
}

/** @internal */
export function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

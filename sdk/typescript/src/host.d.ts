/**
 * Types of the imports of `weft:workflow/host@0.2.2` as componentize-js binds them: kebab-case
 * names become camelCase, `u64` is `bigint`, `list<u8>` is `Uint8Array`, `option<T>` is
 * `T | undefined`, variants are `{ tag: 'kebab-name', val }`, enums are their kebab-case
 * strings and a `result` parameter is `{ tag: 'ok' | 'err', val }`.
 */
declare module 'weft:workflow/host@0.2.2' {
  export type Payload = Uint8Array;
  export interface WitFailure {
    errorType: string;
    message: string;
    details: Payload | undefined;
    nonRetryable: boolean;
  }
  export interface WitRetryPolicy {
    initialIntervalMs: bigint;
    backoffCoefficient: number;
    maximumIntervalMs: bigint;
    maximumAttempts: number;
    nonRetryableErrorTypes: string[];
  }
  export interface WitActivityOptions {
    startToCloseTimeoutMs: bigint | undefined;
    scheduleToCloseTimeoutMs: bigint | undefined;
    scheduleToStartTimeoutMs: bigint | undefined;
    heartbeatTimeoutMs: bigint | undefined;
    taskQueue: string | undefined;
    retryPolicy: WitRetryPolicy | undefined;
  }
  export interface WitNexusOptions {
    scheduleToCloseTimeoutMs: bigint | undefined;
  }
  export type WitParentClosePolicy = 'terminate' | 'request-cancel' | 'abandon';
  export interface WitChildOptions {
    parentClosePolicy: WitParentClosePolicy | undefined;
    executionTimeoutMs: bigint | undefined;
    runTimeoutMs: bigint | undefined;
    taskTimeoutMs: bigint | undefined;
    retryPolicy: WitRetryPolicy | undefined;
  }
  export type WitCancellationType =
    | 'wait-cancellation-completed'
    | 'try-cancel'
    | 'abandon'
    | 'wait-cancellation-requested';
  export interface WitUpdateRequest {
    id: string;
    name: string;
    input: Payload;
    validate: boolean;
  }
  export interface WitQueryRequest {
    name: string;
    input: Payload;
  }
  export type WitMessage =
    | { tag: 'signal'; val: [string, Payload] }
    | { tag: 'cancel-requested'; val: string }
    | { tag: 'update'; val: WitUpdateRequest }
    | { tag: 'query'; val: WitQueryRequest };
  export type WitOutcome =
    | { tag: 'completed'; val: Payload }
    | { tag: 'failed'; val: WitFailure }
    | { tag: 'fired' }
    | { tag: 'canceled' };
  export type WitWake =
    | { tag: 'resolved'; val: [number, WitOutcome] }
    | { tag: 'message'; val: WitMessage };
  export type WitResult = { tag: 'ok'; val: Payload } | { tag: 'err'; val: WitFailure };
  export interface WitWorkflowInfo {
    workflowId: string;
    runId: string;
    workflowType: string;
    taskAttempt: number;
    attempt: number;
    continuedFromRunId: string | undefined;
    parentWorkflowId: string | undefined;
  }

  export function scheduleActivity(activityType: string, input: Payload, options: WitActivityOptions): number;
  export function startTimer(durationMs: bigint): number;
  export function scheduleNexusOperation(
    endpoint: string, service: string, operation: string, input: Payload, options: WitNexusOptions,
  ): number;
  export function requestCancel(h: number): void;
  export function requestCancelWith(h: number, cancellationType: WitCancellationType): void;
  export function startChildWorkflow(
    workflowType: string, workflowId: string, input: Payload, options: WitChildOptions,
  ): number;
  export function signalExternalWorkflow(
    workflowId: string, runId: string | undefined, signalName: string, input: Payload,
  ): number;
  export function requestCancelExternalWorkflow(workflowId: string, runId: string | undefined, reason: string): number;
  export function waitAny(handles: Uint32Array | number[]): WitWake;
  export function takeMessages(): WitMessage[];
  export function acceptUpdate(id: string): void;
  export function rejectUpdate(id: string, failure: WitFailure): void;
  export function completeUpdate(id: string, outcome: WitResult): void;
  export function respondQuery(outcome: WitResult): never;
  export function takeQuery(): WitQueryRequest | undefined;
  export function continueAsNew(input: Payload): never;
  export function patched(changeId: string): boolean;
  export function deprecatePatch(changeId: string): void;
  export function nowMs(): bigint;
  export function randomU64(): bigint;
  export function info(): WitWorkflowInfo;
}

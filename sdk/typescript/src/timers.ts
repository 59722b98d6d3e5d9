/**
 * The global timer functions in a workflow. The JavaScript runtime's own timers run on the
 * workflow clock, which does not advance while the code runs, so a delayed callback would never
 * come (the SDK's driver waits for the host instead). Here `setTimeout` with a delay starts a
 * durable timer (as `timer(ms)` does: a TimerStarted command) and `clearTimeout` cancels it;
 * a zero delay keeps the runtime's macrotask (and the driver lets those run before it waits).
 * `setInterval` with a delay throws: loop over `sleep` instead.
 */

import { fatal, state } from './runtime.js';
import { Timer } from './operations.js';

const g = globalThis as any;
const nativeSetTimeout = g.setTimeout;
const nativeClearTimeout = g.clearTimeout;
const nativeSetInterval = g.setInterval;
/** Ids of durable timers start here, above the runtime's own ids. */
const FIRST_ID = 0x40000000;
let nextId = FIRST_ID;
const durable = new Map<number, Timer>();
/** The runtime's ids of zero-delay timers not run yet: the driver lets them run first. */
const queued = new Set<number>();

g.setTimeout = (fn: (...args: unknown[]) => void, delay?: number, ...args: unknown[]): number => {
  const ms = Number(delay ?? 0);
  if (!(ms > 0)) {
    const id: number = nativeSetTimeout(() => {
      queued.delete(id);
      state.macrotasks = queued.size;
      try {
        if (typeof fn === 'function') fn(...args);
      } catch (e) {
        fatal(e);
      }
    }, 0);
    queued.add(id);
    state.macrotasks = queued.size;
    return id;
  }
  const id = nextId++;
  const t = new Timer(ms);
  durable.set(id, t);
  t.then((fired) => {
    durable.delete(id);
    if (!fired) return;
    try {
      if (typeof fn === 'function') fn(...args);
    } catch (e) {
      fatal(e);
    }
  });
  return id;
};

g.clearTimeout = (id?: number): void => {
  if (id !== undefined && id >= FIRST_ID) {
    durable.get(id)?.cancel();
    durable.delete(id);
  } else {
    nativeClearTimeout(id);
    if (id !== undefined && queued.delete(id)) state.macrotasks = queued.size;
  }
};

g.setInterval = (fn: (...args: unknown[]) => void, delay?: number, ...args: unknown[]): number => {
  if (Number(delay ?? 0) > 0) {
    throw new Error('setInterval with a delay is not durable in a workflow: loop over sleep(ms) instead');
  }
  return nativeSetInterval(fn, delay, ...args);
};

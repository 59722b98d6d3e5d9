// The conformance workflow of the TypeScript SDK: one workflow, input {"case": NAME, ...}. The
// Rust and Python conformance workflows implement the same cases and issue the same commands in
// the same order; result objects have their keys in alphabetical order. Activity `echo` returns
// its input; activity `fail` fails with the non-retryable error type `Boom`.

import {
  ActivityFailure,
  CancelledFailure,
  Failure,
  activity,
  childWorkflow,
  condition,
  continueAsNew,
  info,
  nowMs,
  patched,
  setQueryHandler,
  setUpdateHandler,
  signalChannel,
  sleep,
  timer,
  uuid4,
  workflow,
} from 'weft';

type Input = { case: string; n?: number };

const echo = <T>(input: T) => activity<T>('echo', input);

const cases: Record<string, (input: Input) => Promise<unknown>> = {
  async activities() {
    const a = await echo({ n: 1 });
    const b = echo({ n: 2 });
    const c = echo({ n: 3 });
    const [rb, rc] = await Promise.all([b, c]);
    return { results: [a, rb, rc] };
  },

  async timer_race() {
    const t = timer(3_600_000);
    const a = echo({ n: 1 });
    const winner = await Promise.race([t.then(() => 'timer'), a.then(() => 'activity')]);
    t.cancel();
    return { value: await a, winner };
  },

  async signals() {
    let total = 0;
    setQueryHandler('total', () => total);
    const add = signalChannel<number>('add');
    for (let i = 0; i < 3; i++) total += await add.receive();
    return { total };
  },

  async update() {
    let value: number | undefined;
    setUpdateHandler(
      'set_value',
      (v: number) => {
        value = v;
        return v * 2;
      },
      {
        validator: (v: number) => {
          if (v < 0) throw new Failure('Negative', 'the value must not be negative');
        },
      },
    );
    await condition(() => value !== undefined);
    const v = value as number;
    await echo({ value: v });
    return { value: v };
  },

  async child() {
    const result = await childWorkflow('conformance', `${info().workflowId}-child`, { case: 'activities' });
    return { child: result };
  },

  async deterministic() {
    const isPatched = patched('conformance-patch');
    if (isPatched) await echo({ patched: true });
    const u = uuid4();
    const t = nowMs();
    return { now_ms: t, patched: isPatched, uuid: u };
  },

  async cancel() {
    try {
      await sleep(3_600_000);
    } catch (e) {
      if (!(e instanceof CancelledFailure)) throw e;
      // The sleep's own `Canceled` failure ends the run, after the compensation.
      await echo({ compensate: true });
      throw e;
    }
    return { slept: true };
  },

  async continue_as_new(input) {
    const n = input.n ?? 0;
    if (n < 2) continueAsNew({ case: 'continue_as_new', n: n + 1 });
    return { n };
  },

  async failure() {
    try {
      await activity('fail', { n: 1 });
    } catch (e) {
      if (e instanceof ActivityFailure) throw new Failure('Wrapped', `activity failed: ${e.errorType}`);
      throw e;
    }
    return {};
  },
};

workflow(async (input: Input) => {
  const run = cases[input.case];
  if (!run) throw Failure.nonRetryable('UnknownCase', `no conformance case '${input.case}'`);
  return run(input);
});

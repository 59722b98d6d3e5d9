// An expense approval: the amount can be changed by an update (validated), the state read by a
// query, and a `decide` signal approves or rejects. An approved expense is paid. The same
// workflow as examples/tour/workflows/approval (Rust).
//
//   weft build typescript workflow.ts -o approval.wasm

import { Failure, activity, setQueryHandler, setUpdateHandler, signalChannel, workflow } from 'weft';

interface Request {
  id: string;
  amount_cents: number;
}

interface Decision {
  approved: boolean;
  by: string;
}

workflow(async (req: Request) => {
  // Field order as the Rust struct: amount_cents, state.
  const status = { amount_cents: req.amount_cents, state: 'waiting for a decision' };
  // Queries read the state and record nothing.
  setQueryHandler('status', () => status);
  // Updates change it; the validator rejects bad amounts without a trace in the history.
  setUpdateHandler(
    'set_amount',
    (cents: number) => {
      status.amount_cents = cents;
      return cents;
    },
    {
      validator: (cents: number) => {
        if (cents === 0) throw new Failure('InvalidAmount', 'the amount must be positive');
        if (cents > 1_000_000) throw new Failure('InvalidAmount', 'above the 10,000.00 limit');
      },
    },
  );
  // Signals arrive in the order they were recorded.
  const decision = await signalChannel<Decision>('decide').receive();
  const amount = status.amount_cents;
  // Keys in alphabetical order, as Rust's json! objects.
  if (!decision.approved) {
    status.state = `rejected by ${decision.by}`;
    return { approved: false, by: decision.by, id: req.id };
  }
  status.state = `approved by ${decision.by}, paying`;
  const payment = await activity<string>('pay', { amount_cents: amount, id: req.id });
  status.state = 'paid';
  return { amount_cents: amount, approved: true, by: decision.by, id: req.id, payment };
});

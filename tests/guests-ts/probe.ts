// Shows what the JavaScript runtime's sources of time and randomness give in a workflow: two
// runs get different values, a replay of one run the same (query `values` replays the run and
// returns the JSON text of what the replay computed).

import { nowMs, setQueryHandler, sleep, uuid4, workflow } from 'weft';

workflow(async () => {
  let values: unknown = null;
  setQueryHandler('values', () => JSON.stringify(values));
  await sleep(10);
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return (values = {
    now_ms: nowMs(),
    random: Math.random(),
    time: Date.now(),
    crypto: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''),
    uuid: uuid4(),
  });
});

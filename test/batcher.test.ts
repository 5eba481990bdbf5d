/**
 * The batcher's own guarantees (pure, no database): requests in one lane are grouped into batches
 * no larger than maxBatch, every request gets exactly its own result, at most laneConcurrency
 * batches of a lane run at once, two requests with the same dedupe key are never in flight
 * together, and the latency budget sheds with Overloaded (429 + Retry-After) before exec ever
 * sees the request. Checked with fast-check over random arrival patterns, with and without cold
 * lanes sharing batches (mergeLanes); and: small lanes waiting for a slot share one batch while a
 * hot lane keeps its own, and a shared batch that fails is re-run lane by lane.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Overloaded } from '../src/domain/errors.js';
import { KeyedBatcher, SHARED_LANE } from '../src/services/reservations/batcher.js';
import { statusOf } from '../src/http/problem.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

it('property: batching preserves results, bounds, lane concurrency and dedupe', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ lane: fc.constantFrom('A', 'B', 'C'), key: fc.nat(8), gap: fc.boolean() }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom(1, 3),
      async (reqs, maxBatch, laneConcurrency, concurrency, mergeLanes) => {
        const inFlight = new Map<string, number>();
        const keysInFlight = new Set<string>();
        let running = 0;
        const violations: string[] = [];
        const b = new KeyedBatcher<{ id: number; key: string }, number>({
          maxBatch,
          maxQueue: 1000,
          concurrency,
          laneConcurrency,
          mergeLanes,
          dedupeKey: (r) => r.key,
          exec: async (batch, laneKey) => {
            if (batch.length > maxBatch) violations.push(`batch of ${batch.length}`);
            // a shared batch (SHARED_LANE) counts for every lane in it; the key's first letter is its lane
            const lanes = [...new Set(batch.map((r) => r.key[0]!))];
            if (laneKey !== SHARED_LANE && (lanes.length !== 1 || lanes[0] !== laneKey)) violations.push(`lane ${laneKey} got ${lanes}`);
            if (mergeLanes === 1 && laneKey === SHARED_LANE) violations.push('a shared batch without mergeLanes');
            for (const lane of lanes) {
              inFlight.set(lane, (inFlight.get(lane) ?? 0) + 1);
              if (inFlight.get(lane)! > laneConcurrency) violations.push(`lane ${lane} ran ${inFlight.get(lane)} batches`);
            }
            running++;
            if (running > concurrency) violations.push(`${running} batches running`);
            for (const r of batch) {
              if (keysInFlight.has(r.key)) violations.push(`key ${r.key} twice in flight`);
              keysInFlight.add(r.key);
            }
            await tick();
            for (const r of batch) keysInFlight.delete(r.key);
            for (const lane of lanes) inFlight.set(lane, inFlight.get(lane)! - 1);
            running--;
            return batch.map((r) => r.id * 10);
          },
        });
        const ps: Promise<number>[] = [];
        for (const [i, r] of reqs.entries()) {
          ps.push(b.submit(r.lane, { id: i, key: `${r.lane}${r.key}` }));
          if (r.gap) await tick();
        }
        const results = await Promise.all(ps);
        expect(results).toEqual(reqs.map((_, i) => i * 10));
        expect(violations).toEqual([]);
        await b.drain();
        expect(b.depth).toMatchObject({ queued: 0, running: 0, lanes: 0 });
      },
    ),
    { numRuns: 150 },
  );
});

it('cold lanes waiting for a slot share one batch; a hot lane keeps its own', async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const calls: { lane: string; reqs: string[] }[] = [];
  const b = new KeyedBatcher<string, string>({
    maxBatch: 100,
    maxQueue: 1000,
    concurrency: 1,
    mergeLanes: 3,
    mergeLaneMax: 8,
    exec: async (batch, lane) => {
      calls.push({ lane, reqs: [...batch] });
      if (calls.length === 1) await gate;
      return batch.map((r) => `ok:${r}`);
    },
  });
  const first = b.submit('X', 'x'); // takes the only slot
  await tick();
  const cold = ['A', 'B', 'C', 'D'].map((l) => b.submit(l, l.toLowerCase()));
  const hot = Array.from({ length: 20 }, (_, i) => b.submit('HOT', `h${i}`));
  open();
  expect(await Promise.all([first, ...cold, ...hot])).toEqual(['ok:x', 'ok:a', 'ok:b', 'ok:c', 'ok:d', ...Array.from({ length: 20 }, (_, i) => `ok:h${i}`)]);
  expect(calls).toEqual([
    { lane: 'X', reqs: ['x'] },
    // A at the head of the line takes the slot, B and C ride with it (3 lanes at most); HOT (20 > 8) is not taken along
    { lane: SHARED_LANE, reqs: ['a', 'b', 'c'] },
    { lane: 'D', reqs: ['d'] },
    { lane: 'HOT', reqs: Array.from({ length: 20 }, (_, i) => `h${i}`) },
  ]);
});

it('a shared batch that fails is re-run lane by lane: one lane\'s failure is its own answer only', async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const calls: string[] = [];
  const b = new KeyedBatcher<string, string>({
    maxBatch: 100,
    maxQueue: 1000,
    concurrency: 1,
    mergeLanes: 8,
    exec: async (batch, lane) => {
      calls.push(lane);
      if (lane === 'X') await gate;
      // the lane 'BAD' times out on its lock, alone or in company
      if (batch.includes('bad')) throw new Error('lock timeout on BAD');
      return batch.map((r) => `ok:${r}`);
    },
  });
  const first = b.submit('X', 'x');
  await tick();
  const others = [b.submit('A', 'a'), b.submit('BAD', 'bad'), b.submit('C', 'c')].map((p) => p.catch((e: Error) => e.message));
  open();
  await first;
  expect(await Promise.all(others)).toEqual(['ok:a', 'lock timeout on BAD', 'ok:c']);
  expect(calls).toEqual(['X', SHARED_LANE, 'A', 'BAD', 'C']);
});

it('a zero latency budget sheds every request that would wait behind a batch, before exec sees it', async () => {
  const seen: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = new KeyedBatcher<number, number>({
    maxBatch: 100,
    maxQueue: 1000,
    concurrency: 4,
    budgetMs: 0,
    exec: async (batch, lane) => {
      seen.push(...batch);
      if (lane === 'L') await gate;
      return batch;
    },
  });
  const first = b.submit('L', 1);
  const shed = await Promise.allSettled([2, 3, 4].map((n) => b.submit('L', n)));
  for (const s of shed) {
    expect(s.status).toBe('rejected');
    const err = (s as PromiseRejectedResult).reason as Overloaded;
    expect(err).toBeInstanceOf(Overloaded);
    expect(statusOf(err)).toBe(429);
    expect(err.retryAfter).toBeGreaterThanOrEqual(1);
  }
  expect(await b.submit('M', 5)).toBe(5); // another lane with a free slot is not held back
  release();
  expect(await first).toBe(1);
  expect(seen).toEqual([1, 5]);
  expect(b.shed).toBe(3);
});

it('the queue bound sheds with 429 too', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = new KeyedBatcher<number, number>({ maxBatch: 1, maxQueue: 1, concurrency: 1, exec: async (x) => (await gate, x) });
  const ok = [b.submit('L', 1), b.submit('L', 2)];
  await expect(b.submit('L', 3)).rejects.toBeInstanceOf(Overloaded);
  release();
  expect(await Promise.all(ok)).toEqual([1, 2]);
});

it('a hot lane that never empties does not starve other lanes of the shared slots', async () => {
  // one slot; the hot lane is refilled whenever its batch finishes, so it always has work queued
  let hotBatches = 0;
  let coldDoneAt: number | undefined;
  const b = new KeyedBatcher<string, string>({
    maxBatch: 2,
    maxQueue: 10_000,
    concurrency: 1,
    exec: async (batch, lane) => {
      await new Promise((r) => setImmediate(r));
      if (lane === 'hot') hotBatches++;
      return batch;
    },
  });
  const hot = async () => {
    // more queued than one batch takes, so the hot lane still has work when each batch ends
    while (hotBatches < 50 && coldDoneAt === undefined) await Promise.all(Array.from({ length: 4 }, () => b.submit('hot', 'h')));
  };
  const feeders = [hot(), hot(), hot()];
  await new Promise((r) => setImmediate(r));
  const cold = b.submit('cold', 'c').then(() => (coldDoneAt = hotBatches));
  await Promise.all([cold, ...feeders]);
  // the cold request is served within a couple of hot batches, not after the hot stream ends
  expect(coldDoneAt).toBeDefined();
  expect(coldDoneAt!).toBeLessThanOrEqual(3);
});

it('a batch that fails for a non-transient reason is re-run request by request; a 503 fails it as a whole', async () => {
  const { isolated } = await import('../src/services/reservations/allocator.js');
  const { Unavailable } = await import('../src/domain/errors.js');
  const cmd = (orderRef: string) => ({ caller: 'c', idempotencyKey: orderRef, fingerprint: orderRef, orderRef, channel: 'web', lines: [{ sku: 'S', qty: 1 }] });
  const batch = [cmd('a'), cmd('bad'), cmd('b')];
  const calls: string[][] = [];
  const run = async (cmds: readonly ReturnType<typeof cmd>[]) => {
    calls.push(cmds.map((c) => c.orderRef));
    if (cmds.some((c) => c.orderRef === 'bad')) throw Object.assign(new Error('invalid byte sequence'), { code: '22021' });
    return { results: cmds.map((c) => ({ ok: true as const, result: { reservation: { id: c.orderRef } as never, replayed: false, json: '' } })), skus: [] };
  };
  const report = await isolated(batch, run);
  expect(report.results.map((r) => r.ok)).toEqual([true, false, true]);
  expect(calls).toEqual([['a', 'bad', 'b'], ['a'], ['bad'], ['b']]);
  const down = async () => {
    throw new Unavailable('database unavailable');
  };
  await expect(isolated(batch, down)).rejects.toBeInstanceOf(Unavailable);
});

it('a slow spell raises the estimate and sheds; after an idle pause the stale average decays and the next burst is served', async () => {
  // a driven clock: exec "takes" whatever the test says, and idle time passes only when the test says so
  let clock = 0;
  let gate: Promise<void> | undefined;
  let slow = 0;
  const b = new KeyedBatcher<number, number>({
    maxBatch: 10,
    maxQueue: 1000,
    concurrency: 4,
    budgetMs: 100,
    priorBatchMs: 10,
    idleHalfLifeMs: 250,
    now: () => clock,
    exec: async (batch) => {
      clock += slow;
      if (gate) await gate;
      return batch;
    },
  });
  slow = 1000; // four one-second batches: the average climbs to ~590 ms
  for (let i = 0; i < 4; i++) expect(await b.submit('A', i)).toBe(i);
  slow = 0;
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  // right after the slow spell: a request behind a batch in flight is shed
  const first = b.submit('B', 1);
  await expect(b.submit('B', 2)).rejects.toBeInstanceOf(Overloaded);
  open();
  await first;
  // the batch of B took 0 ms, which pulls the average down by a fifth only; a long idle pause does the rest
  clock += 3000;
  gate = new Promise<void>((r) => (open = r));
  const burst = [b.submit('C', 1), b.submit('C', 2), b.submit('C', 3)];
  await new Promise((r) => setImmediate(r));
  open();
  expect(await Promise.all(burst)).toEqual([1, 2, 3]);
  expect(b.shed).toBe(1);
});

it('a batch in flight for longer than the average raises the estimate at once, decayed average or not', async () => {
  let clock = 0;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const b = new KeyedBatcher<number, number>({
    maxBatch: 10,
    maxQueue: 1000,
    concurrency: 4,
    budgetMs: 100,
    priorBatchMs: 10,
    now: () => clock,
    exec: async (batch) => (await gate, batch),
  });
  const first = b.submit('S', 1);
  expect(b.estimateWait('S')).toBeLessThanOrEqual(10); // the average says a batch takes 10 ms
  clock += 500; // ... but this one has been in flight for 500 ms (a lock wait)
  expect(b.estimateWait('S')).toBeGreaterThanOrEqual(250);
  await expect(b.submit('S', 2)).rejects.toBeInstanceOf(Overloaded);
  open();
  expect(await first).toBe(1);
});

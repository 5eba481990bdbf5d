/**
 * The batcher's own guarantees (pure, no database): requests in one lane are grouped into batches
 * no larger than maxBatch, every request gets exactly its own result, at most laneConcurrency
 * batches of a lane run at once, two requests with the same dedupe key are never in flight
 * together, and the latency budget sheds with Overloaded (429 + Retry-After) before exec ever
 * sees the request. Checked with fast-check over random arrival patterns.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Overloaded } from '../src/domain/errors.js';
import { KeyedBatcher } from '../src/services/batcher.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

it('property: batching preserves results, bounds, lane concurrency and dedupe', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ lane: fc.constantFrom('A', 'B', 'C'), key: fc.nat(8), gap: fc.boolean() }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
      async (reqs, maxBatch, laneConcurrency, concurrency) => {
        const inFlight = new Map<string, number>();
        const keysInFlight = new Set<string>();
        let running = 0;
        const violations: string[] = [];
        const b = new KeyedBatcher<{ id: number; key: string }, number>({
          maxBatch,
          maxQueue: 1000,
          concurrency,
          laneConcurrency,
          dedupeKey: (r) => r.key,
          exec: async (batch, lane) => {
            if (batch.length > maxBatch) violations.push(`batch of ${batch.length}`);
            inFlight.set(lane, (inFlight.get(lane) ?? 0) + 1);
            running++;
            if (inFlight.get(lane)! > laneConcurrency) violations.push(`lane ${lane} ran ${inFlight.get(lane)} batches`);
            if (running > concurrency) violations.push(`${running} batches running`);
            for (const r of batch) {
              if (keysInFlight.has(r.key)) violations.push(`key ${r.key} twice in flight`);
              keysInFlight.add(r.key);
            }
            await tick();
            for (const r of batch) keysInFlight.delete(r.key);
            inFlight.set(lane, inFlight.get(lane)! - 1);
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
    expect(err.status).toBe(429);
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

/**
 * The reads/promise/mixed bench at small scale (CI): the real service as a child process against
 * its own fresh Postgres database and Redis, driven over HTTP by the bench's load generator —
 * every read scenario, the promise scenario and the mixed one, each half a second. Asserts only
 * what must hold whatever the speed, never a timing: every scenario answered, every read answer
 * 200 (or a 429 shed on a starved machine), reads changed nothing, GET /v1/atp agrees with
 * Postgres afterwards, zero oversell, reserved == Σ allocations, one event per reservation,
 * reservations == first 201 answers, and a ratio to the trivial route for every scenario.
 */
import { expect, it } from 'vitest';
import { runMixed } from '../bench/mixed.js';

it('quick reads, promise and mixed run keeps every invariant and answers exactly', { timeout: 180_000 }, async () => {
  const r = await runMixed({
    connections: 8,
    readConnections: 8,
    durationMs: 500,
    skus: 200,
    zipf: 1.0,
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    quiet: true,
  });
  expect(r.invariants.failures).toEqual([]);
  expect(r.invariants.ok).toBe(true);
  const names = ['trivial-8', 'atp-1-uniform', 'atp-1-zipf', 'atp-10-uniform', 'atp-10-zipf', 'atp-100-uniform', 'atp-100-zipf', 'promise-3', 'mixed', 'mixed:atp', 'mixed:reserve', 'mixed:release'];
  expect(Object.keys(r.scenarios).sort()).toEqual([...names].sort());
  for (const n of names.filter((x) => x !== 'mixed:release')) {
    expect(r.scenarios[n]!.requests, n).toBeGreaterThan(0);
    // per second of the loop (the last, partial second as a rate)
    const t = r.scenarios[n]!.timeline!;
    expect(t.answers.length, n).toBeGreaterThan(0);
    expect(t.answers.slice(0, -1).reduce((a, b) => a + b, 0), n).toBeLessThanOrEqual(r.scenarios[n]!.requests);
    expect(t.ok.every((v, i) => v <= t.answers[i]!), n).toBe(true);
  }
  for (const n of names.filter((x) => /^atp-|^promise-|^mixed:atp$/.test(x))) expect(Object.keys(r.scenarios[n]!.statuses).every((s) => s === '200' || s === '429'), `${n}: ${JSON.stringify(r.scenarios[n]!.statuses)}`).toBe(true);
  expect(Object.keys(r.scenarios['mixed:reserve']!.statuses).every((s) => s === '201' || s === '409' || s === '429')).toBe(true);
  expect(r.scenarios['mixed:reserve']!.created).toBeGreaterThan(0);
  const checks = r.invariants.checks as { atpMatchesPostgres: { positions: number; mismatches: number }; readsChangedNothing: { before: unknown; after: unknown }; reservationsVs201: { reservations: number; created201: number } };
  expect(checks.atpMatchesPostgres.positions).toBeGreaterThan(50);
  expect(checks.atpMatchesPostgres.mismatches).toBe(0);
  expect(checks.readsChangedNothing.after).toEqual(checks.readsChangedNothing.before);
  expect(checks.reservationsVs201.reservations).toBe(checks.reservationsVs201.created201);
  expect(Object.keys(r.ratios).sort()).toEqual(
    ['atp-1-uniform', 'atp-1-zipf', 'atp-10-uniform', 'atp-10-zipf', 'atp-100-uniform', 'atp-100-zipf', 'promise-3', 'mixed-ops', 'mixed-orders'].map((k) => `${k}/trivial`).sort(),
  );
  expect(r.ordersPerSec).toBeGreaterThan(0);
});

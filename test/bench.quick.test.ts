/**
 * The flash-sale bench in quick mode (CI): the real service as a child process against its own
 * fresh Postgres database and Redis, driven over HTTP by the bench's load generator — a hot SKU,
 * the sold-out path, a sell-out (demand 20× the stock, with idempotent retries) on one instance
 * and on two processes sharing the database. Asserts only the invariants, never timings:
 * zero oversell, reserved == Σ allocations everywhere, units sold == stock when demand exceeded
 * it, reservations == first 201 answers, one reservation.created event per reservation.
 */
import { expect, it } from 'vitest';
import { runFlashSale } from '../bench/flash-sale.js';

it('quick flash-sale run keeps every invariant', { timeout: 120_000 }, async () => {
  const r = await runFlashSale({
    connections: 40,
    durationMs: 1000,
    quick: true,
    rate: 0,
    sellOutStock: 100,
    hotStock: 100_000,
    coldSkus: 20,
    pgConnections: 10,
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    quiet: true,
    log: () => {},
  });
  expect(r.invariants.failures).toEqual([]);
  expect(r.invariants.ok).toBe(true);
  const c = r.invariants.checks as Record<string, { units: number; reservations: number; created201: number }>;
  expect(c['SELL-1']!.units).toBe(100);
  expect(c['SELL-2']!.units).toBe(100);
  expect(c['SOLD-1']!.units).toBe(0);
  expect(r.scenarios['sell-out']!.created).toBe(100);
  expect(r.scenarios['sell-out-2p']!.created).toBe(100);
  expect(r.scenarios.hot!.created).toBeGreaterThan(0);
  // every answer is a 201, the expected 409, or (on a starved machine) a 429 shed: no 5xx, no transport errors
  for (const s of Object.values(r.scenarios)) expect(Object.keys(s.statuses).every((k) => k === '201' || k === '409' || k === '429')).toBe(true);
});

/**
 * Invariant proven: no oversell under concurrency, for 100 units and 500 one-unit requests at once
 * → exactly 100 accepted, reserved == Σ active allocations == 100, ledger balanced.
 * (1) through the HTTP app: requests for one SKU ride the batcher's lane (natural batching);
 * (2) straight to reserveBatch, one transaction per request over 20 pooled connections, so the
 *     row locks (not the batcher) are what keep them apart.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { reserveBatch } from '../src/services/reserve.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, ATP_DB_POOL_MAX: '20', LOG_LEVEL: 'silent' }), { sweeper: false });
});
afterAll(async () => {
  await svc?.stop();
  await db?.drop();
});

const json = { 'content-type': 'application/json' };

it('500 concurrent requests for 100 units allocate exactly 100', async () => {
  const put = await client(svc.app).raw('/v1/inventory/HOT/DC1', { method: 'PUT', headers: json, body: JSON.stringify({ onHand: 100 }) });
  expect(put.status).toBe(200);
  const responses = await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      client(svc.app).raw('/v1/reservations', {
        method: 'POST',
        headers: { ...json, 'idempotency-key': `k-${i}` },
        body: JSON.stringify({ orderRef: `o-${i}`, channel: 'web', lines: [{ sku: 'HOT', qty: 1 }] }),
      }),
    ),
  );
  const statuses = responses.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(100);
  expect(statuses.filter((s) => s === 409)).toHaveLength(400);
  await expectBalanced('HOT');
});

it('500 concurrent single-request transactions for 100 units allocate exactly 100', async () => {
  await client(svc.app).raw('/v1/inventory/HOT2/DC1', { method: 'PUT', headers: json, body: JSON.stringify({ onHand: 100 }) });
  const rules = svc.rules.current();
  const reports = await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      reserveBatch(svc.database.db, rules, [
        { caller: 't', idempotencyKey: `d-${i}`, fingerprint: `f-${i}`, orderRef: `d-${i}`, channel: 'web', lines: [{ sku: 'HOT2', qty: 1 }] },
      ]),
    ),
  );
  expect(reports.filter((r) => r.results[0]!.ok)).toHaveLength(100);
  await expectBalanced('HOT2');
});

async function expectBalanced(sku: string) {
  const sql = postgres(db.url, { max: 1 });
  const [p] = await sql`select on_hand, reserved from positions where sku = ${sku}`;
  const [a] = await sql`select coalesce(sum(qty),0)::int as s from allocations where sku = ${sku} and supply_id is null`;
  const [l] = await sql`select coalesce(sum(delta_on_hand),0)::int as oh, coalesce(sum(delta_reserved),0)::int as r from ledger where sku = ${sku}`;
  await sql.end();
  expect(p).toMatchObject({ on_hand: 100, reserved: 100 });
  expect(a!.s).toBe(100);
  expect(l).toMatchObject({ oh: 100, r: 100 });
}

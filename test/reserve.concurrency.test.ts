/**
 * Invariant proven: no oversell under concurrency. 500 reservation requests for 1 unit each, sent
 * at once through the HTTP app over a pool of 20 Postgres connections, for 100 units → exactly
 * 100 accepted, 400 refused with 409, reserved == Σ active allocations == 100, ledger balanced.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
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
  const put = await svc.app.request('/v1/inventory/HOT/DC1', { method: 'PUT', headers: json, body: JSON.stringify({ onHand: 100 }) });
  expect(put.status).toBe(200);
  const responses = await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      svc.app.request('/v1/reservations', {
        method: 'POST',
        headers: { ...json, 'idempotency-key': `k-${i}` },
        body: JSON.stringify({ orderRef: `o-${i}`, channel: 'web', lines: [{ sku: 'HOT', qty: 1 }] }),
      }),
    ),
  );
  const statuses = responses.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(100);
  expect(statuses.filter((s) => s === 409)).toHaveLength(400);
  const sql = postgres(db.url, { max: 1 });
  const [p] = await sql`select on_hand, reserved from positions where sku = 'HOT'`;
  const [a] = await sql`select coalesce(sum(qty),0)::int as s from allocations where sku = 'HOT' and supply_id is null`;
  const [l] = await sql`select coalesce(sum(delta_on_hand),0)::int as oh, coalesce(sum(delta_reserved),0)::int as r from ledger where sku = 'HOT'`;
  await sql.end();
  expect(p).toMatchObject({ on_hand: 100, reserved: 100 });
  expect(a!.s).toBe(100);
  expect(l).toMatchObject({ oh: 100, r: 100 });
});

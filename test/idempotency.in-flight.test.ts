/**
 * A retry that arrives while the first attempt with its Idempotency-Key is still in flight (the
 * client's deadline 503 came first, or a second instance took the retry) must get the first
 * attempt's answer, never a refusal computed from the first attempt's own effect. Real Postgres:
 * a raw transaction holds the rows both attempts need, so both are waiting when it lets go; the
 * one that runs second finds the stock taken (or the supply received) by the first, and must
 * replay the first's answer instead of answering 409.
 */
import { expect, it } from 'vitest';
import { reserveBatch } from '../src/services/reservations/reserve.js';
import type { ReserveCommand } from '../src/services/reservations/reserve-statement.js';
import { whileLocked as held } from './helpers/locks.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture({ ATP_DB_POOL_MAX: '10' });
const whileLocked = <T>(lockSql: string, params: unknown[], waiters: number, start: () => Promise<T>[]) => held(t.sql, t.db.url, lockSql, params, waiters, start);

it('a receipt retried while its first attempt runs replays the first answer (not 409: the PO is received)', async () => {
  expect((await t.api.call('PUT', '/v1/locations/DC1', { rank: 1 })).status).toBe(200);
  const po = await t.api.call('POST', '/v1/supply', { sku: 'IF-R', location: 'DC1', qty: 5, expectedAt: '2030-01-05T00:00:00.000Z' }, { 'idempotency-key': 'po-1' });
  expect(po.status).toBe(201);
  const receive = () => t.api.call('POST', `/v1/supply/${po.body.id}/receipts`, { qty: 5 }, { 'idempotency-key': 'receipt-1' });
  const [a, b] = await whileLocked('select 1 from supply where id = $1 for update', [po.body.id], 2, () => [receive(), receive()]);
  expect([a!.status, b!.status]).toEqual([200, 200]);
  expect(b!.body).toEqual(a!.body);
  const [s] = await t.sql`select received_qty, status from supply where id = ${po.body.id}`;
  expect(s).toMatchObject({ received_qty: 5, status: 'received' });
  const [p] = await t.sql`select on_hand from positions where sku = 'IF-R'`;
  expect(p!.on_hand).toBe(5);
});

it('a reservation retried while its first attempt runs (another batch, e.g. another instance) replays it, not 409 for the unit it took', async () => {
  expect((await t.api.setStock('IF-S', 'DC1', 1)).status).toBe(200);
  const cmd: ReserveCommand = { caller: 'test', idempotencyKey: 'order-1', fingerprint: 'fp-order-1', orderRef: 'o1', channel: 'web', lines: [{ sku: 'IF-S', qty: 1 }] };
  const reserve = () => reserveBatch(t.svc.database.db, t.svc.rules.current(), [cmd]).then((r) => r.results[0]!);
  const [a, b] = await whileLocked(`select 1 from positions where sku = 'IF-S' for update`, [], 2, () => [reserve(), reserve()]);
  expect(a!.ok && b!.ok, JSON.stringify([a, b])).toBe(true);
  if (!a!.ok || !b!.ok) return;
  expect(b!.result.reservation.id).toBe(a!.result.reservation.id);
  expect([a!.result.replayed, b!.result.replayed].sort()).toEqual([false, true]);
  const [n] = await t.sql`select count(*)::int as n from reservations where idempotency_key = 'order-1'`;
  expect(n!.n).toBe(1);
});

it('a retry decided under locks (no lane prediction: a restarted or another instance) replays the stored answer', async () => {
  expect((await t.api.setStock('IF-L', 'DC1', 5)).status).toBe(200);
  const cmd: ReserveCommand = { caller: 'test', idempotencyKey: 'order-l', fingerprint: 'fp-order-l', orderRef: 'ol', channel: 'web', lines: [{ sku: 'IF-L', qty: 2 }] };
  const first = (await reserveBatch(t.svc.database.db, t.svc.rules.current(), [cmd])).results[0]!;
  const again = (await reserveBatch(t.svc.database.db, t.svc.rules.current(), [cmd])).results[0]!;
  expect(first.ok && again.ok, JSON.stringify([first, again])).toBe(true);
  if (!first.ok || !again.ok) return;
  expect(again.result.replayed).toBe(true);
  expect(again.result.reservation).toEqual(first.result.reservation);
  const [p] = await t.sql`select reserved from positions where sku = 'IF-L'`;
  expect(p!.reserved).toBe(2);
});

/**
 * The row-budget migration (drizzle/0005_row_budget.sql) on data written in the old layout: a
 * reservation's Idempotency-Key and first answer move from idempotency_keys onto its row, the
 * ledger keeps only onHand movements, and the service started on the migrated database replays
 * the old answer byte for byte and keeps every invariant.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { fingerprint } from '../src/services/idempotency.js';
import { client, expectInvariants } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';
import { migrateTo } from './helpers/migrations.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: postgres.Sql;
let svc: Service | undefined;
const RES_ID = '00000000-0000-4000-8000-000000000001';
const PURGED_ID = '00000000-0000-4000-8000-000000000002';
const REUSED_ID = '00000000-0000-4000-8000-000000000003';
const body = { orderRef: 'old-1', channel: 'web', lines: [{ sku: 'MIG-1', qty: 2 }] };
const oldAnswer = {
  id: RES_ID,
  orderRef: 'old-1',
  channel: 'web',
  status: 'held',
  expiresAt: null,
  rulesVersion: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  lines: [{ lineNo: 1, sku: 'MIG-1', qty: 2, status: 'allocated', allocations: [{ location: 'DC1', qty: 2, committedQty: 0, releasedQty: 0 }] }],
};

beforeAll(async () => {
  db = await createTestDatabase();
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await migrateTo(sql, 4);
  // what the previous release wrote for a count of 10, one reservation of 2 and one release key
  await sql`insert into locations (id) values ('DC1')`;
  await sql`insert into positions (sku, location, on_hand, reserved) values ('MIG-1', 'DC1', 10, 2)`;
  await sql`insert into reservations (id, order_ref, channel, status, caller, idempotency_key, created_at, updated_at)
            values (${RES_ID}, 'old-1', 'web', 'held', 'anonymous', 'old-key', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`;
  await sql`insert into reservation_lines (reservation_id, line_no, sku, qty, status) values (${RES_ID}, 1, 'MIG-1', 2, 'allocated')`;
  await sql`insert into allocations (reservation_id, line_no, sku, location, qty) values (${RES_ID}, 1, 'MIG-1', 'DC1', 2)`;
  await sql`insert into ledger (sku, location, delta_on_hand, delta_reserved, reason, actor) values
            ('MIG-1', 'DC1', 10, 0, 'cycle-count', 'ops'), ('MIG-1', 'DC1', 0, 2, 'reserve', 'anonymous'), ('MIG-1', 'DC1', 0, 0, 'cycle-count', 'ops')`;
  // a key purged after its retention and reused since: two reservations carry it, only the second has its answer stored
  await sql`insert into reservations (id, order_ref, channel, status, caller, idempotency_key) values
            (${PURGED_ID}, 'old-purged', 'web', 'released', 'anonymous', 'reused-key'), (${REUSED_ID}, 'old-reused', 'web', 'released', 'anonymous', 'reused-key')`;
  await sql`insert into idempotency_keys (caller, key, fingerprint, status_code, response) values
            ('anonymous', 'old-key', ${fingerprint('POST', '/v1/reservations', body)}, 201, ${JSON.stringify(oldAnswer)}::jsonb),
            ('anonymous', 'other-verb', 'fp-other', 200, '{"ok":true}'),
            ('anonymous', 'reused-key', 'fp-reused', 201, ${JSON.stringify({ id: REUSED_ID })}::jsonb)`;
});

afterAll(async () => {
  await svc?.stop();
  await sql?.end();
  await db?.drop();
});

it('moves the key and the first answer onto the reservation and keeps only onHand in the ledger', async () => {
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' }), { sweeper: false });
  const [r] = await sql`select idempotency_key, fingerprint, answer from reservations where id = ${RES_ID}`;
  expect(r).toEqual({ idempotency_key: 'old-key', fingerprint: fingerprint('POST', '/v1/reservations', body), answer: oldAnswer });
  expect(await sql`select caller, key from idempotency_keys order by key`).toEqual([{ caller: 'anonymous', key: 'other-verb' }]);
  // reserved-only rows go; every onHand row stays, even a count that moved 0 (it changed something else)
  expect(await sql`select reason, delta_on_hand from ledger order by id`).toEqual([
    { reason: 'cycle-count', delta_on_hand: 10 },
    { reason: 'cycle-count', delta_on_hand: 0 },
  ]);
  // a purged key no longer replays; the reservation that reused it keeps it with its answer
  expect(await sql`select id::text, idempotency_key, answer from reservations where id in (${PURGED_ID}, ${REUSED_ID}) order by id`).toEqual([
    { id: PURGED_ID, idempotency_key: null, answer: null },
    { id: REUSED_ID, idempotency_key: 'reused-key', answer: { id: REUSED_ID } },
  ]);
  const [col] = await sql`select count(*)::int as n from information_schema.columns where table_name = 'ledger' and column_name = 'delta_reserved'`;
  expect(col!.n).toBe(0);
});

it('the migrated service replays the old answer byte for byte and refuses the key with another body', async () => {
  const api = client(svc!.app);
  const replay = await api.reserve(body, 'old-key');
  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(replay.body).toEqual(oldAnswer);
  const reuse = await api.reserve({ ...body, orderRef: 'other' }, 'old-key');
  expect(reuse.status).toBe(422);
  // a new reservation in the new layout next to the migrated one: the invariants hold over both
  expect((await api.reserve({ orderRef: 'new-1', channel: 'web', lines: [{ sku: 'MIG-1', qty: 3 }] })).status).toBe(201);
  expect(await expectInvariants(db.url, 'MIG')).toEqual([{ sku: 'MIG-1', location: 'DC1', on_hand: 10, reserved: 5 }]);
});

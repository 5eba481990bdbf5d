/**
 * The lines migration (drizzle/0009_lines_on_reservation.sql) on data written in the old layout:
 * each reservation's reservation_lines rows move onto its row (reservations.lines) in the same
 * migration that drops the table, the view reservation_lines shows exactly the rows there were,
 * and the service started on the migrated database reads, releases by the stored pack unit and
 * keeps every invariant.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, expectInvariants } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';
import { migrateTo } from './helpers/migrations.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: postgres.Sql;
let svc: Service | undefined;
const RES = '00000000-0000-4000-8000-0000000000a1';
const OTHER = '00000000-0000-4000-8000-0000000000a2';
const linesNow = () => sql`select reservation_id::text, line_no, sku, qty, location, status, kit_sku, per_kit, unit, unit_factor from reservation_lines order by reservation_id, line_no`;
let before: Awaited<ReturnType<typeof linesNow>>;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await migrateTo(sql, 8);
  // what the previous release wrote: two cases of 6 of MIG-U (pinned to DC1), a short line, and a kit's component line
  await sql`insert into locations (id) values ('DC1')`;
  await sql`insert into positions (sku, location, on_hand, reserved) values ('MIG-U', 'DC1', 48, 14), ('MIG-C', 'DC1', 10, 0)`;
  await sql`insert into ledger (sku, location, delta_on_hand, reason, actor) values ('MIG-U', 'DC1', 48, 'cycle-count', 'ops'), ('MIG-C', 'DC1', 10, 'cycle-count', 'ops')`;
  await sql`insert into reservations (id, order_ref, channel, status, caller, created_at, updated_at) values
            (${RES}, 'old-lines', 'web', 'held', 'anonymous', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
            (${OTHER}, 'old-kit', 'web', 'held', 'anonymous', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`;
  await sql`insert into reservation_lines (reservation_id, line_no, sku, qty, location, status, kit_sku, per_kit, unit, unit_factor) values
            (${RES}, 1, 'MIG-U', 12, 'DC1', 'allocated', null, null, 'case', 6),
            (${RES}, 2, 'MIG-C', 3, null, 'short', null, null, null, null),
            (${OTHER}, 1, 'MIG-U', 2, null, 'allocated', 'MIG-KIT', 2, null, null)`;
  await sql`insert into allocations (reservation_id, line_no, sku, location, qty, short_qty) values
            (${RES}, 1, 'MIG-U', 'DC1', 12, 0), (${RES}, 2, 'MIG-C', 'DC1', 0, 3), (${OTHER}, 1, 'MIG-U', 'DC1', 2, 0)`;
  before = await linesNow();
});

afterAll(async () => {
  await svc?.stop();
  await sql?.end();
  await db?.drop();
});

it('moves every line onto its reservation; the view shows exactly the rows there were', async () => {
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' }), { sweeper: false, relay: false });
  expect(before).toHaveLength(3);
  expect(await linesNow()).toEqual(before);
  const [t] = await sql`select count(*)::int as n from information_schema.tables where table_name = 'reservation_lines' and table_type = 'BASE TABLE'`;
  expect(t!.n).toBe(0);
  const [r] = await sql`select lines from reservations where id = ${RES}`;
  expect((r!.lines as { line_no: number }[]).map((l) => l.line_no)).toEqual([1, 2]);
});

it('the migrated service reads the lines, releases by the stored pack unit, and keeps the invariants', async () => {
  const api = client(svc!.app);
  const got = await api.call('GET', `/v1/reservations/${RES}`);
  expect(got.status).toBe(200);
  expect(got.body).toMatchObject({
    id: RES,
    lines: [
      { lineNo: 1, sku: 'MIG-U', location: 'DC1', status: 'allocated', unit: { name: 'case', factor: 6 } },
      { lineNo: 2, sku: 'MIG-C', status: 'short' },
    ],
  });
  // one case: 6 base units by the factor stored on the line (the catalog knows no 'case')
  const rel = await api.raw(`/v1/reservations/${RES}/release`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'mig-release' },
    body: JSON.stringify({ lines: [{ sku: 'MIG-U', qty: 1, unit: 'case' }] }),
  });
  expect(rel.status).toBe(200);
  const kit = await api.call('GET', `/v1/reservations/${OTHER}`);
  expect(kit.body).toMatchObject({ lines: [{ lineNo: 1, sku: 'MIG-U', kit: { sku: 'MIG-KIT' } }] });
  expect(await expectInvariants(db.url, 'MIG')).toEqual(
    expect.arrayContaining([expect.objectContaining({ sku: 'MIG-U', location: 'DC1', on_hand: 48, reserved: 8 })]),
  );
});

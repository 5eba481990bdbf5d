/**
 * How long the row-budget migrations take on a full database: `npx tsx scripts/migration-timing.ts [N]`
 * (default 100,000). Builds a scratch database at migration 0007, fills it with N open single-line
 * reservations as the 0007 release wrote them (reservation with key and answer, line, allocation,
 * reservation.created outbox row with its copied JSON), then times 0008 (outbox reference) and
 * 0009 (lines onto the reservation row) — the stop-all window of docs/OPERATIONS.md — and checks
 * that every line arrived. Uses TEST_ADMIN_URL / BENCH_ADMIN_URL like the tests (default local Postgres).
 */
import postgres from 'postgres';
import { createScratchDatabase } from '../bench/lib/db.js';
import { migrateTo } from '../test/helpers/migrations.js';

const n = Number(process.argv[2] ?? 100_000);
const db = await createScratchDatabase('atp_migtime');
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
try {
  await migrateTo(sql, 7);
  await sql`insert into locations (id) values ('DC1')`;
  await sql`insert into positions (sku, location, on_hand, reserved) values ('MIG-T', 'DC1', ${n}, ${n})`;
  await sql`insert into reservations (id, order_ref, channel, status, caller, idempotency_key, fingerprint, answer)
            select ('00000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'o-' || g, 'web', 'held', 'oms', 'k-' || g, 'fp',
                   json_build_object('id', g, 'orderRef', 'o-' || g, 'lines', json_build_array(json_build_object('lineNo', 1, 'sku', 'MIG-T', 'qty', 1)))
            from generate_series(1, ${n}) g`;
  await sql`insert into reservation_lines (reservation_id, line_no, sku, qty, status) select id, 1, 'MIG-T', 1, 'allocated' from reservations`;
  await sql`insert into allocations (reservation_id, line_no, sku, location, qty) select id, 1, 'MIG-T', 'DC1', 1 from reservations`;
  await sql`insert into outbox (type, subject, data) select 'reservation.created', id::text, jsonb_build_object('reservation', answer) from reservations`;
  await sql`vacuum analyze`;
  const t0 = performance.now();
  await migrateTo(sql, 8);
  const t1 = performance.now();
  await migrateTo(sql);
  const t2 = performance.now();
  const [check] = await sql`select count(*)::int as lines, count(distinct reservation_id)::int as reservations from reservation_lines`;
  if (check!.lines !== n || check!.reservations !== n) throw new Error(`lines after the migration: ${JSON.stringify(check)}`);
  console.log(JSON.stringify({ reservations: n, '0008_outbox_reference_s': +((t1 - t0) / 1000).toFixed(2), '0009_lines_on_reservation_s': +((t2 - t1) / 1000).toFixed(2), linesAfter: check!.lines }));
} finally {
  await sql.end();
  await db.drop();
}

/**
 * What drizzle's query builder costs on the admin and catalog reads (issue 18: "use it where it
 * costs nothing measurable"):
 *
 *   npx tsx bench/builder-vs-sql.ts [--calls 20000] [--list-calls 2000] [--rounds 3]
 *   npx tsx bench/builder-vs-sql.ts --pglite     # the same-answers check only, on embedded PGlite
 *
 * On a scratch database (Postgres from BENCH_ADMIN_URL, migrated as the service migrates it) with
 * a few hundred supply rows, kits, locations and a reservation's changes, it first checks that
 * every converted read answers byte for byte what its former raw statement (kept below as the
 * reference) answers, then times, one call at a time on the service's own pool:
 *   get   getSupply (one row by primary key), `--calls` calls, against its raw-SQL equivalent;
 *   list  listSupply (100 rows), `--list-calls` calls, against its raw-SQL equivalent;
 * builder and raw alternate within each round (warm-up first), and it prints µs per call, the
 * median of `--rounds` rounds. Run it alone on the box (`flock /tmp/atp-bench.lock …`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'drizzle-orm';
import { loadConfig } from '../src/config.js';
import { type Database, type Exec, openDatabase, query } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import type { SqlRow } from '../src/db/rows.js';
import type { kitComponents, locations, reservationChanges as changesTable } from '../src/db/schema.js';
import { Catalog } from '../src/services/catalog/catalog.js';
import { listLocations } from '../src/services/stock/inventory.js';
import { getSupply, listSupply, reservationChanges, supplyDto } from '../src/services/supply/supply.js';
import type { SupplyRowFull } from '../src/services/supply/supply-state.js';
import { createScratchDatabase } from './lib/db.js';
import { median } from './lib/load.js';

const { values } = parseArgs({ options: { calls: { type: 'string' }, 'list-calls': { type: 'string' }, rounds: { type: 'string' }, pglite: { type: 'boolean' } } });
const CALLS = Number(values.calls ?? 20_000);
const LIST_CALLS = Number(values['list-calls'] ?? 2_000);
const ROUNDS = Number(values.rounds ?? 3);

// ---- the raw statements the converted reads replaced (the reference)

const raw = {
  listLocations: (exec: Exec) => query<Pick<SqlRow<typeof locations>, 'id' | 'name' | 'rank'>>(exec, sql`select id, name, rank from locations order by rank, id`),
  async getKit(exec: Exec, sku: string) {
    const rows = await query<Pick<SqlRow<typeof kitComponents>, 'component_sku' | 'qty'>>(exec, sql`select component_sku, qty from kit_components where kit_sku = ${sku} order by component_sku`);
    return { sku, components: rows.map((r) => ({ sku: r.component_sku, qty: r.qty })) };
  },
  async getSupply(exec: Exec, id: string) {
    const [row] = await query<SupplyRowFull>(exec, sql`select s.*, 0 as rank from supply s where id = ${id}`);
    return supplyDto(row!);
  },
  async listSupply(exec: Exec, f: { sku?: string | undefined; status?: string | undefined; limit: number }) {
    const rows = await query<SupplyRowFull>(
      exec,
      sql`select s.*, 0 as rank from supply s
          where (${f.sku ?? null}::text is null or s.sku = ${f.sku ?? null}) and (${f.status ?? null}::text is null or s.status = ${f.status ?? null})
          order by s.sku, s.expected_at, s.id limit ${f.limit}`,
    );
    return rows.map(supplyDto);
  },
  async reservationChanges(exec: Exec, id: string) {
    const rows = await query<Pick<SqlRow<typeof changesTable>, 'id' | 'kind' | 'reason' | 'detail' | 'created_at'>>(
      exec,
      sql`select id::text as id, kind, reason, detail, created_at from reservation_changes where reservation_id = ${id} order by id`,
    );
    return rows.map((r) => ({ id: r.id, kind: r.kind, reason: r.reason, detail: typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail, at: new Date(r.created_at).toISOString() }));
  },
};

async function seed(database: Database): Promise<{ supplyIds: string[]; reservationId: string }> {
  const db = database.db;
  await query(db, sql`insert into locations (id, name, rank) values ('WH1', 'Main', 10), ('WH2', null, 10), ('A-STORE', 'Store', 200), ('WH0', 'First', 100)`);
  const supplyIds = Array.from({ length: 300 }, () => randomUUID());
  const rows = supplyIds.map((id, i) => ({
    id,
    sku: `SKU-${String(i % 40).padStart(3, '0')}`,
    location: i % 3 ? 'WH1' : 'WH2',
    kind: i % 5 ? 'po' : 'transfer',
    reference: i % 2 ? `PO-${i}` : null,
    qty: 100 + i,
    received_qty: i % 7,
    status: i % 11 === 0 ? 'cancelled' : 'open',
    // microseconds: the answers' instants are cut to milliseconds alike
    expected_at: `2027-0${1 + (i % 9)}-1${i % 10}T0${i % 10}:30:00.123456Z`,
  }));
  await query(
    db,
    sql`insert into supply (id, sku, location, kind, reference, qty, received_qty, status, expected_at, created_at, updated_at)
        select id, sku, location, kind, reference, qty, received_qty, status, expected_at, clock_timestamp(), clock_timestamp()
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          as d(id uuid, sku text, location text, kind text, reference text, qty int, received_qty int, status text, expected_at timestamptz)`,
  );
  await query(db, sql`insert into kit_components (kit_sku, component_sku, qty) values ('KIT-1', 'SKU-010', 2), ('KIT-1', 'SKU-002', 1), ('KIT-1', 'sku-003', 4)`);
  const reservationId = randomUUID();
  await query(db, sql`insert into reservations (id, order_ref, channel, status, caller, lines) values (${reservationId}, 'o-1', 'web', 'held', 'bench', '[]'::jsonb)`);
  await query(
    db,
    sql`insert into reservation_changes (reservation_id, kind, reason, detail, created_at) values
        (${reservationId}, 'backorder.filled', 'receipt', '{"z": 1, "a": [1, 2.50, {"b": null}], "note": "é"}'::jsonb, '2026-11-29 20:07:39.123456+00'),
        (${reservationId}, 'allocation.short', 'short-pick', '{"supplyId": "x", "shortQty": 3}'::jsonb, clock_timestamp())`,
  );
  return { supplyIds, reservationId };
}

/** Every converted read answers what its raw statement answered, byte for byte. */
async function checkSameAnswers(database: Database, catalog: Catalog, s: { supplyIds: string[]; reservationId: string }): Promise<void> {
  const db = database.db;
  const pairs: [string, () => Promise<unknown>, () => Promise<unknown>][] = [
    ['listLocations', () => listLocations(db), () => raw.listLocations(db)],
    ['getKit', () => catalog.getKit(db, 'KIT-1'), () => raw.getKit(db, 'KIT-1')],
    ['getSupply', () => getSupply(db, s.supplyIds[7]!), () => raw.getSupply(db, s.supplyIds[7]!)],
    ['listSupply', () => listSupply(db, { limit: 1000 }), () => raw.listSupply(db, { limit: 1000 })],
    ['listSupply sku', () => listSupply(db, { sku: 'SKU-007', limit: 5 }), () => raw.listSupply(db, { sku: 'SKU-007', limit: 5 })],
    ['listSupply status', () => listSupply(db, { status: 'cancelled', limit: 100 }), () => raw.listSupply(db, { status: 'cancelled', limit: 100 })],
    ['listSupply both', () => listSupply(db, { sku: 'SKU-000', status: 'open', limit: 100 }), () => raw.listSupply(db, { sku: 'SKU-000', status: 'open', limit: 100 })],
    ['reservationChanges', () => reservationChanges(db, s.reservationId), () => raw.reservationChanges(db, s.reservationId)],
  ];
  for (const [name, builder, reference] of pairs) {
    const [a, b] = [JSON.stringify(await builder()), JSON.stringify(await reference())];
    if (a !== b) throw new Error(`${name}: the builder's answer differs from the raw statement's\n  builder: ${a.slice(0, 400)}\n  raw:     ${b.slice(0, 400)}`);
    console.log(`same answer: ${name} (${a.length} bytes)`);
  }
}

async function perCall(n: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

if (values.pglite) {
  const dir = await mkdtemp(path.join(tmpdir(), 'atp-builder-'));
  const database = await openDatabase(loadConfig({ ATP_DATA_DIR: dir, LOG_LEVEL: 'warn' }));
  try {
    await migrateDatabase(database);
    await checkSameAnswers(database, new Catalog(database.db), await seed(database));
  } finally {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  }
  process.exit(0);
}

const scratch = await createScratchDatabase('atp_builder');
const database = await openDatabase(loadConfig({ DATABASE_URL: scratch.url, LOG_LEVEL: 'warn' }));
try {
  await migrateDatabase(database, scratch.url);
  const s = await seed(database);
  const catalog = new Catalog(database.db);
  await checkSameAnswers(database, catalog, s);
  const db = database.db;
  const ids = s.supplyIds;
  const cases = [
    { name: `getSupply (1 row) × ${CALLS}`, n: CALLS, builder: (i: number) => getSupply(db, ids[i % ids.length]!), raw: (i: number) => raw.getSupply(db, ids[i % ids.length]!) },
    { name: `listSupply (100 rows) × ${LIST_CALLS}`, n: LIST_CALLS, builder: () => listSupply(db, { limit: 100 }), raw: () => raw.listSupply(db, { limit: 100 }) },
  ];
  for (const c of cases) {
    await perCall(Math.min(1000, c.n), c.builder);
    await perCall(Math.min(1000, c.n), c.raw);
    const b: number[] = [];
    const r: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // alternate which goes first, so a drift of the box does not favour one
      if (round % 2 === 0) {
        b.push(await perCall(c.n, c.builder));
        r.push(await perCall(c.n, c.raw));
      } else {
        r.push(await perCall(c.n, c.raw));
        b.push(await perCall(c.n, c.builder));
      }
      console.log(`  ${c.name} round ${round + 1}: builder ${b[round]!.toFixed(1)} µs/call · raw ${r[round]!.toFixed(1)} µs/call`);
    }
    const [mb, mr] = [median(b), median(r)];
    console.log(`${c.name}: builder ${mb.toFixed(1)} µs/call · raw SQL ${mr.toFixed(1)} µs/call · difference ${(mb - mr).toFixed(1)} µs (${(((mb - mr) / mr) * 100).toFixed(1)} %) — median of ${ROUNDS}`);
  }
} finally {
  await database.close();
  await scratch.drop();
}

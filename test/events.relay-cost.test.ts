/**
 * The relay's reads cost what is unpublished, not what the outbox holds: with 20,000 published rows
 * still in the outbox (retention keeps them for hours) and 50 above the cursor, the pass's read and
 * the lag query read only the rows above the cursor from outbox_txid_id_idx. Checked on the plan
 * Postgres actually ran (EXPLAIN ANALYZE: rows the scan returned and rows any filter removed), not
 * on a timing. Before the fix the cursor was joined in, the scan started at the first row of the
 * index and 20,000 rows were removed by the join filter on every pass (22 ms a pass).
 */
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { lagSql, pendingRowsSql } from '../src/events/relay.js';
import { createService, type Service } from '../src/service.js';
import { createTestDatabase } from './helpers/db.js';
import { settled } from './helpers/outbox.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pg: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' }), { sweeper: false, relay: false, availability: false });
  pg = postgres(db.url, { max: 2, onnotice: () => {} });
  // 20,050 events in 201 transactions of 100 (distinct txids, as a flash sale writes them), the cursor after the 20,000th
  for (let t = 0; t < 201; t++)
    await pg`insert into outbox (type, subject, data, created_at)
             select 'stock.adjusted', 'S-' || g, jsonb_build_object('sku', 'S-' || g), now() from generate_series(1, ${t < 200 ? 100 : 50}) g`;
  await pg`update relay_cursor c set txid = o.txid, outbox_id = o.id
           from (select txid, id from outbox order by txid, id offset 19999 limit 1) o where c.id = 1`;
  await pg`analyze outbox`;
  await settled(pg);
});
afterAll(async () => {
  await pg?.end();
  await svc?.stop();
  await db?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Join Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** Run `q` under EXPLAIN ANALYZE; every node of its plan. */
async function planOf(q: SQL): Promise<PlanNode[]> {
  const { sql: text, params } = new PgDialect().sqlToQuery(q);
  const [row] = await pg.unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(`explain (analyze, format json) ${text}`, params as never[]);
  const nodes: PlanNode[] = [];
  const walk = (n: PlanNode) => {
    nodes.push(n);
    n.Plans?.forEach(walk);
  };
  walk(row!['QUERY PLAN'][0].Plan);
  return nodes;
}

/** Rows of `outbox` the plan read: returned by its scans plus removed by any filter anywhere. */
function outboxRowsRead(nodes: PlanNode[]): number {
  const scans = nodes.filter((n) => n['Relation Name'] === 'outbox');
  expect(scans.length).toBeGreaterThan(0);
  const removed = nodes.reduce((s, n) => s + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Join Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0), 0);
  return scans.reduce((s, n) => s + n['Actual Rows'] * n['Actual Loops'], 0) + removed;
}

it('a relay pass reads only the rows above its cursor', async () => {
  const nodes = await planOf(pendingRowsSql(500));
  expect(outboxRowsRead(nodes)).toBe(50);
});

it('the lag query reads only the rows above the cursor (the 50 it counts, and the oldest once more for its age)', async () => {
  const nodes = await planOf(lagSql());
  expect(outboxRowsRead(nodes)).toBe(51);
});

/**
 * The catalog across instances. Reads (GET /v1/atp) read the kits and units they answer in their
 * own statement: a change made through one instance is in the other's next read (issue 15). The
 * write path's cached copy reaches the other instance when its ATP_CATALOG_TTL_MS has passed
 * since its last look (it then re-reads the catalog's digest) — in both directions (defined, then
 * removed); until then it reserves from its last copy, never a mix of the two.
 * The instances share a test clock: the TTL passes when the test moves time, never by sleeping.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, expectInvariants } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';

const TTL_MS = 300;
const clock = new ManualClock();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let a: Service;
let b: Service;
let sql: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_CATALOG_TTL_MS: String(TTL_MS) };
  a = await createService(loadConfig(env), { sweeper: false, clock });
  b = await createService(loadConfig(env), { sweeper: false, clock });
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

it('a kit defined, then removed, through instance A: B reads it at once; B reserves by it when its TTL has passed, not before', async () => {
  const apiA = client(a.app);
  const apiB = client(b.app);
  expect((await apiA.setStock('CI-A', 'DC1', 10)).status).toBe(200);
  const kitOnB = async () => (await apiB.call('GET', '/v1/atp?sku=CI-KIT')).body.skus[0] as { kit?: unknown; available: number };
  const reserveOnB = (ref: string) => apiB.reserve({ orderRef: ref, channel: 'web', lines: [{ sku: 'CI-KIT', qty: 1 }] });
  // B looks first: no such kit, so CI-KIT is a plain SKU with no stock (read and write paths)
  expect(await kitOnB()).toMatchObject({ available: 0 });
  expect((await kitOnB()).kit).toBeUndefined();
  expect((await reserveOnB('ci-0')).status).toBe(409);

  expect((await apiA.call('PUT', '/v1/kits/CI-KIT', { components: [{ sku: 'CI-A', qty: 2 }] })).status).toBe(200);
  // the read path: at once, no TTL
  expect(await kitOnB()).toMatchObject({ kit: { components: [{ sku: 'CI-A', qty: 2 }] }, available: 5 });
  // the write path's copy: when its TTL has passed, not before
  clock.advance(TTL_MS - 1);
  expect((await reserveOnB('ci-0b')).status).toBe(409);
  clock.advance(1);
  const r = await reserveOnB('ci-1');
  expect(r.status).toBe(201);
  expect(r.body.lines).toEqual([expect.objectContaining({ sku: 'CI-A', qty: 2, kit: { sku: 'CI-KIT', perKit: 2 } })]);

  expect((await apiA.call('DELETE', '/v1/kits/CI-KIT')).status).toBe(204);
  expect((await kitOnB()).kit).toBeUndefined();
  clock.advance(TTL_MS);
  const after = await reserveOnB('ci-2');
  expect(after.status).toBe(409);
  expect(after.body.lines).toEqual([expect.objectContaining({ sku: 'CI-KIT', available: 0 })]);
  const [pos] = await sql<{ reserved: number }[]>`select reserved from positions where sku = 'CI-A'`;
  expect(pos!.reserved).toBe(2);
  await expectInvariants(db.url);
});

it('pack units set through A are applied by B when its TTL has passed, not before', async () => {
  const apiA = client(a.app);
  const apiB = client(b.app);
  expect((await apiA.setStock('CI-U', 'DC1', 100)).status).toBe(200);
  const unknown = await apiB.reserve({ orderRef: 'cu-0', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] });
  expect(unknown.status).toBe(400);
  expect(unknown.body.errors[0].field).toBe('body.lines.0.unit');
  expect((await apiA.call('PUT', '/v1/units/CI-U', { units: [{ unit: 'case', factor: 12 }] })).status).toBe(200);
  clock.advance(TTL_MS - 1);
  expect((await apiB.reserve({ orderRef: 'cu-1', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] })).status).toBe(400);
  clock.advance(1);
  const seen = await apiB.reserve({ orderRef: 'cu-2', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] });
  expect(seen.status).toBe(201);
  expect(seen.body.lines[0]).toMatchObject({ sku: 'CI-U', qty: 12, unit: { name: 'case', factor: 12 } });
});

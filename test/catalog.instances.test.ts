/**
 * The catalog cache across instances: kits and pack units changed through one service instance
 * reach another instance on the same database within its ATP_CATALOG_TTL_MS — it re-reads the
 * catalog's digest at most that long after its last look — in both directions (defined, then
 * removed). Until then the other instance answers from its last copy; it never mixes the two.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, expectInvariants } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

const TTL_MS = 300;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let a: Service;
let b: Service;
let sql: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_CATALOG_TTL_MS: String(TTL_MS) };
  a = await createService(loadConfig(env), { sweeper: false });
  b = await createService(loadConfig(env), { sweeper: false });
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

/** Retry `probe` until `done(result)`, for at most `ms` (a liveness bound, not a timing claim). */
async function until<T>(probe: () => Promise<T>, done: (r: T) => boolean, ms = 15_000): Promise<{ result: T; tries: number }> {
  const deadline = Date.now() + ms;
  for (let tries = 1; ; tries++) {
    const result = await probe();
    if (done(result) || Date.now() > deadline) return { result, tries };
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('a kit defined, then removed, through instance A is applied by instance B after its TTL', async () => {
  const apiA = client(a.app);
  const apiB = client(b.app);
  expect((await apiA.setStock('CI-A', 'DC1', 10)).status).toBe(200);
  const kitOnB = async () => (await apiB.call('GET', '/v1/atp?sku=CI-KIT')).body.skus[0] as { kit?: unknown; available: number };
  // B looks first: no such kit, so CI-KIT is a plain SKU with no stock
  expect(await kitOnB()).toMatchObject({ available: 0 });
  expect((await kitOnB()).kit).toBeUndefined();

  expect((await apiA.call('PUT', '/v1/kits/CI-KIT', { components: [{ sku: 'CI-A', qty: 2 }] })).status).toBe(200);
  const defined = await until(kitOnB, (k) => k.kit !== undefined);
  expect(defined.result).toMatchObject({ kit: { components: [{ sku: 'CI-A', qty: 2 }] }, available: 5 });
  const r = await apiB.reserve({ orderRef: 'ci-1', channel: 'web', lines: [{ sku: 'CI-KIT', qty: 1 }] });
  expect(r.status).toBe(201);
  expect(r.body.lines).toEqual([expect.objectContaining({ sku: 'CI-A', qty: 2, kit: { sku: 'CI-KIT', perKit: 2 } })]);

  expect((await apiA.call('DELETE', '/v1/kits/CI-KIT')).status).toBe(204);
  const removed = await until(kitOnB, (k) => k.kit === undefined);
  expect(removed.result.kit).toBeUndefined();
  const after = await apiB.reserve({ orderRef: 'ci-2', channel: 'web', lines: [{ sku: 'CI-KIT', qty: 1 }] });
  expect(after.status).toBe(409);
  expect(after.body.lines).toEqual([expect.objectContaining({ sku: 'CI-KIT', available: 0 })]);
  const [pos] = await sql<{ reserved: number }[]>`select reserved from positions where sku = 'CI-A'`;
  expect(pos!.reserved).toBe(2);
  await expectInvariants(db.url);
});

it('pack units set through A are applied by B after its TTL', async () => {
  const apiA = client(a.app);
  const apiB = client(b.app);
  expect((await apiA.setStock('CI-U', 'DC1', 100)).status).toBe(200);
  const unknown = await apiB.reserve({ orderRef: 'cu-0', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] });
  expect(unknown.status).toBe(400);
  expect(unknown.body.errors[0].field).toBe('body.lines.0.unit');
  expect((await apiA.call('PUT', '/v1/units/CI-U', { units: [{ unit: 'case', factor: 12 }] })).status).toBe(200);
  let n = 0;
  const seen = await until(
    () => apiB.reserve({ orderRef: `cu-${++n}`, channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] }),
    (r) => r.status === 201,
  );
  expect(seen.result.status).toBe(201);
  expect(seen.result.body.lines[0]).toMatchObject({ sku: 'CI-U', qty: 12, unit: { name: 'case', factor: 12 } });
});

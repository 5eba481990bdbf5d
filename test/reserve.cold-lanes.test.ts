/**
 * Cold SKUs batch too (real Postgres): reservations for different SKUs that wait for an allocation
 * slot together share one transaction (locks in the global order) instead of one each, every
 * request still gets its own answer, and one SKU's lock timeout never fails the others (the
 * shared batch is re-run lane by lane). One allocation slot (ATP_BATCH_CONCURRENCY=1) makes the
 * waiting deterministic; a raw transaction holding a position's row lock keeps the slot busy.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { SHARED_LANE } from '../src/services/reservations/batcher.js';
import { createService, type Service } from '../src/service.js';
import { client, expectInvariants } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: postgres.Sql;
const batches: { lane: string; size: number }[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_BATCH_CONCURRENCY: '1', ATP_MERGE_LANES: '16', ATP_LOCK_TIMEOUT_MS: '400', ATP_TX_RETRIES: '0' }),
    { sweeper: false, relay: false, onBatch: (b) => batches.push({ lane: b.lane, size: b.size }) },
  );
  sql = postgres(db.url, { max: 4, onnotice: () => {} });
  const api = client(svc.app);
  for (const sku of ['CL-X', 'CL-Y', 'CL-A', 'CL-B', 'CL-C', 'CL-D', 'CL-E']) expect((await api.call('PUT', `/v1/inventory/${sku}/DC1`, { onHand: 10 })).status).toBe(200);
});
afterAll(async () => {
  await sql?.end();
  await svc?.stop();
  await db?.drop();
});

const reserve = (sku: string, key: string) =>
  client(svc.app).raw('/v1/reservations', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ orderRef: `o-${key}`, channel: 'web', lines: [{ sku, qty: 1 }] }),
  });

/** Hold the row lock of `sku`'s position until `release` is called. */
async function holdPosition(sku: string): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = sql.begin(async (tx) => {
    await tx`select 1 from positions where sku = ${sku} for update`;
    locked();
    await released;
  });
  await isLocked;
  return {
    release: async () => {
      release();
      await holder;
    },
  };
}

/** Wait until `n` requests wait in the allocator's queue (a condition, not a duration). */
async function queued(n: number): Promise<void> {
  for (let i = 0; svc.allocator.depth.queued < n; i++) {
    if (i > 20_000) throw new Error(`only ${svc.allocator.depth.queued} of ${n} requests ever queued`);
    await new Promise((r) => setImmediate(r));
  }
}

it('reservations for five cold SKUs that wait for the slot together share one transaction, each with its own answer', async () => {
  const lock = await holdPosition('CL-X');
  const blocked = reserve('CL-X', 'x-1'); // takes the only slot and waits on the row lock
  await queued(0);
  for (let i = 0; svc.allocator.depth.running < 1; i++) await new Promise((r) => setImmediate(r));
  const cold = ['CL-A', 'CL-B', 'CL-C', 'CL-D', 'CL-E'].map((sku) => reserve(sku, `cold-${sku}`));
  await queued(5);
  batches.length = 0;
  await lock.release();
  expect((await blocked).status).toBe(201);
  const answers = await Promise.all(cold);
  expect(answers.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
  const bodies = (await Promise.all(answers.map((r) => r.json()))) as { lines: { sku: string }[] }[];
  expect(bodies.map((b) => b.lines[0]!.sku)).toEqual(['CL-A', 'CL-B', 'CL-C', 'CL-D', 'CL-E']);
  // the X batch, then ONE shared batch for the five cold SKUs (not five transactions)
  expect(batches).toEqual([
    { lane: 'CL-X', size: 1 },
    { lane: SHARED_LANE, size: 5 },
  ]);
  const positions = await expectInvariants(db.url, 'CL-');
  for (const sku of ['CL-A', 'CL-B', 'CL-C', 'CL-D', 'CL-E', 'CL-X']) expect(positions.find((p) => p.sku === sku)).toMatchObject({ reserved: 1 });
});

it("one SKU's lock timeout in a shared batch fails only that SKU's requests", async () => {
  const x = await holdPosition('CL-X');
  const y = await holdPosition('CL-Y');
  const blocked = reserve('CL-X', 'x-2'); // occupies the slot until X is released
  for (let i = 0; svc.allocator.depth.running < 1; i++) await new Promise((r) => setImmediate(r));
  const waiting = [reserve('CL-A', 'a-2'), reserve('CL-Y', 'y-2'), reserve('CL-B', 'b-2')];
  await queued(3);
  batches.length = 0;
  await x.release();
  expect((await blocked).status).toBe(201);
  // A, Y and B share a batch; Y's row stays locked past the lock timeout: the shared batch fails as a
  // whole, then A, Y and B run on their own — A and B are reserved, Y alone answers 503 (retry-safe)
  const [a, yy, b] = await Promise.all(waiting);
  await y.release();
  expect([a!.status, yy!.status, b!.status]).toEqual([201, 503, 201]);
  expect(batches.map((x) => x.lane)).toEqual(['CL-X', SHARED_LANE]);
  const positions = await expectInvariants(db.url, 'CL-');
  expect(positions.find((p) => p.sku === 'CL-Y')).toMatchObject({ reserved: 0 });
  expect(positions.find((p) => p.sku === 'CL-A')).toMatchObject({ reserved: 2 });
});

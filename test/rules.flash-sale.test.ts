/**
 * Flash sale over HTTP (a real listening server, rules in Redis, stock in Postgres): three
 * channels of different tiers compete for one SKU with a per-SKU protection level and a cap.
 *
 *   onHand 100; protect (default) {1: 30, 2: 20}, overridden for FLASH-1 to {1: 40};
 *   web tier 1, b2b tier 2, mkt tier 3 with maxUnits 25 for FLASH-1.
 *   → mkt must leave 40 + 20 = 60 and may hold 25; b2b must leave 40; web may take everything.
 *
 * The low-tier requests are sent first (in one scenario they are even all answered before the
 * first web request is sent): web still gets the 40 units protected for it, b2b at least its 20,
 * mkt never more than its cap or anything protected; refusals of b2b/mkt that stock could have
 * served are 409 channel-limit (not insufficient-stock), and every reservation records the rules
 * version it was decided under.
 */
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { serve, type ServerType } from '@hono/node-server';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, type Client, overHttp } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let svc: Service;
let server: ServerType;
let base: string;
let api: Client;
let rulesVersion: number;

const RULES = {
  defaultTier: 3,
  channels: { web: { tier: 1 }, b2b: { tier: 2 }, mkt: { tier: 3 } },
  protect: { '1': 30, '2': 20 },
  skus: { 'FLASH-1': { protect: { '1': 40 }, channels: { mkt: { maxUnits: 25 } } }, 'FLASH-2': { protect: { '1': 40 }, channels: { mkt: { maxUnits: 25 } } } },
};

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, REDIS_URL: REDIS, ATP_RULES_KEY: `atp:test:flash:${randomBytes(6).toString('hex')}`, ATP_EVENTS_STREAM: `atp:test:flash:${randomBytes(6).toString('hex')}`, ATP_DB_POOL_MAX: '10', LOG_LEVEL: 'silent' }),
    { sweeper: false },
  );
  server = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api = client(overHttp(base));
  const put = await api.putRules(RULES, '"0"');
  expect(put.status).toBe(200);
  rulesVersion = (put.body as { version: number }).version;
  for (const sku of ['FLASH-1', 'FLASH-2']) expect((await api.setStock(sku, 'DC1', 100)).status).toBe(200);
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await svc?.stop();
  await db?.drop();
});

interface Answer {
  channel: string;
  status: number;
  code?: string;
  reason?: string;
  rulesVersion?: number;
}

let n = 0;
async function reserve(sku: string, channel: string): Promise<Answer> {
  const i = ++n;
  const r = await api.reserve({ orderRef: `o-${i}`, channel, lines: [{ sku, qty: 1 }] }, `flash-${i}`);
  const body = r.body as { code?: string; rulesVersion?: number; lines?: { reason?: string }[] };
  return { channel, status: r.status, code: body.code, reason: body.lines?.[0]?.reason, rulesVersion: body.rulesVersion };
}

const burst = (sku: string, channel: string, count: number) => Array.from({ length: count }, () => reserve(sku, channel));

function tally(answers: Answer[]) {
  const won = (ch: string) => answers.filter((a) => a.channel === ch && a.status === 201).length;
  return { web: won('web'), b2b: won('b2b'), mkt: won('mkt') };
}

async function checkOutcome(sku: string, answers: Answer[]) {
  const won = tally(answers);
  console.log(`${sku}: accepted ${JSON.stringify(won)} of ${JSON.stringify({ web: 40, b2b: 60, mkt: 100 })}; refusals ${JSON.stringify(
    Object.fromEntries(['b2b', 'mkt'].map((ch) => [ch, [...new Set(answers.filter((a) => a.channel === ch && a.status !== 201).map((a) => `${a.status} ${a.code}/${a.reason}`))]])),
  )}`);
  // every web request got its unit: the 40 units protected for tier 1
  expect(won.web).toBe(40);
  // mkt: never above its cap, never into what is protected for tiers 1–2
  expect(won.mkt).toBeLessThanOrEqual(25);
  expect(won.b2b + won.mkt).toBeLessThanOrEqual(60);
  // a refusal only for the right reason (availability only falls and holds only grow during the sale):
  // b2b refused ⇒ taking one more would have dipped into web's 40; mkt 'protected' ⇒ into the 60; 'channel-cap' ⇒ mkt is at 25
  const left = 100 - won.web - won.b2b - won.mkt;
  const refused = (ch: string, reason?: string) => answers.some((a) => a.channel === ch && a.status === 409 && (!reason || a.reason === reason));
  if (refused('b2b')) expect(left).toBeLessThanOrEqual(40);
  if (refused('mkt', 'protected')) expect(left).toBeLessThanOrEqual(60);
  if (refused('mkt', 'channel-cap')) expect(won.mkt).toBe(25);
  expect(refused('web')).toBe(false);
  // nothing but 201 and 409; a b2b/mkt refusal while stock remained is a channel-limit
  for (const a of answers) expect([201, 409]).toContain(a.status);
  for (const a of answers.filter((x) => x.status === 409)) expect(['channel-limit', 'insufficient-stock']).toContain(a.code);
  expect(answers.filter((a) => a.channel === 'mkt' && a.code === 'channel-limit').length).toBeGreaterThan(0);
  for (const a of answers.filter((x) => x.code === 'channel-limit')) {
    expect(['protected', 'channel-cap']).toContain(a.reason);
    expect(a.rulesVersion).toBe(rulesVersion);
  }
  for (const a of answers.filter((x) => x.status === 201)) expect(a.rulesVersion).toBe(rulesVersion);

  const sql = postgres(db.url, { max: 1 });
  try {
    const [p] = await sql<{ on_hand: number; reserved: number }[]>`select on_hand, reserved from positions where sku = ${sku}`;
    expect(p!.reserved).toBe(won.web + won.b2b + won.mkt);
    expect(p!.reserved).toBeLessThanOrEqual(p!.on_hand);
    const holds = await sql<{ channel: string; reserved: number }[]>`select channel, reserved from channel_holds where sku = ${sku}`;
    expect(Object.fromEntries(holds.map((h) => [h.channel, h.reserved]))).toMatchObject({ web: won.web, ...(won.b2b ? { b2b: won.b2b } : {}), ...(won.mkt ? { mkt: won.mkt } : {}) });
    const versions = await sql<{ v: number }[]>`select distinct r.rules_version as v from reservations r join reservation_lines l on l.reservation_id = r.id where l.sku = ${sku}`;
    expect(versions.map((x) => x.v)).toEqual([rulesVersion]);
  } finally {
    await sql.end();
  }
}

it('low tiers answered before the first web request is even sent: web still gets its 40 protected units', async () => {
  const early = await Promise.all([...burst('FLASH-1', 'mkt', 100), ...burst('FLASH-1', 'b2b', 60)]);
  // the low tiers took all they were allowed to: mkt its cap, b2b up to the line protected for web
  const before = tally(early);
  expect(before.mkt).toBeLessThanOrEqual(25);
  expect(before.b2b + before.mkt).toBe(60);
  // the channel view of ATP answers after the rules
  const atp = async (channel: string) => {
    const r = await api.atp(['FLASH-1'], channel);
    return (r.body as { skus: { available: number; channel: Record<string, unknown> }[] }).skus[0]!;
  };
  expect(await atp('mkt')).toMatchObject({ available: 40, channel: { name: 'mkt', tier: 3, available: 0, protectedUnits: 60, rulesVersion } });
  expect(await atp('b2b')).toMatchObject({ available: 40, channel: { tier: 2, available: 0, protectedUnits: 40 } });
  expect(await atp('web')).toMatchObject({ available: 40, channel: { tier: 1, available: 40, protectedUnits: 0, capRoom: null } });

  const late = await Promise.all(burst('FLASH-1', 'web', 40));
  await checkOutcome('FLASH-1', [...early, ...late]);
});

it('all at once, low tiers sent first: web still gets its 40 protected units', async () => {
  const answers = await Promise.all([...burst('FLASH-2', 'mkt', 100), ...burst('FLASH-2', 'b2b', 60), ...burst('FLASH-2', 'web', 40)]);
  await checkOutcome('FLASH-2', answers);
});

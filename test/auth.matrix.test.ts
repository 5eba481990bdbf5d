/**
 * Authorization matrix. Every route the app serves × {no key, wrong key, admin, oms, channel:a,
 * channel:b, metrics} → the expected status (the route list comes from `app.routes`, so a new
 * route without a row here fails). Then the channel boundary: a channel key cannot reserve, read
 * or release as another channel, and nothing is written when it tries; it may release (not commit
 * or extend) its own channel's reservations. Keys never appear in logs
 * (pino captured to a stream at trace level), response bodies or spans; 401/403 are problem+json.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { KeyRing } from '../src/http/auth.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/service.js';
import { createTelemetry, type Telemetry } from '../src/telemetry/index.js';
import { client, type Client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';
import { servedRoutes } from './helpers/routes.js';

const key = (tag: string) => `${tag}_${randomBytes(18).toString('base64url')}`;
const KEYS = { admin: key('adm'), oms: key('oms'), a: key('cha'), b: key('chb'), metrics: key('met') };
const WRONG = key('wrong');
const ALL_SECRETS = [...Object.values(KEYS), WRONG];

type Who = 'none' | 'wrong' | 'admin' | 'oms' | 'a' | 'b' | 'metrics';
const WHO: Who[] = ['none', 'wrong', 'admin', 'oms', 'a', 'b', 'metrics'];
const auth = (who: Who): Record<string, string> =>
  who === 'none' ? {} : { authorization: `Bearer ${who === 'wrong' ? WRONG : KEYS[who]}` };

let svc: Service;
/** no default key: each call sends its own Authorization (or none) */
let http: Client;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let telemetry: Telemetry;
const spans = new InMemorySpanExporter();
const logs: string[] = [];
const bodies: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  telemetry = createTelemetry({ spanExporter: spans });
  const sink = new Writable({
    write(chunk, _e, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  svc = await createService(
    loadConfig({
      DATABASE_URL: db.url,
      ATP_DB_POOL_MAX: '4',
      ATP_API_KEYS: `${KEYS.admin}=admin,${KEYS.oms}=oms,${KEYS.a}=channel:a,${KEYS.b}=channel:b,${KEYS.metrics}=metrics`,
    }),
    { sweeper: false, telemetry, logger: createLogger('trace', sink) },
  );
  http = client(svc.app);
  expect((await call('admin', 'PUT', '/v1/inventory/AUTH-1/DC1', { onHand: 100_000 })).status).toBe(200);
});
afterAll(async () => {
  await svc?.stop();
  await telemetry?.shutdown();
  await db?.drop();
});

let seq = 0;
async function call(who: Who, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { ...auth(who), ...headers };
  if (method === 'POST' || method === 'PATCH') h['idempotency-key'] ??= `idem-${++seq}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await http.raw(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  bodies.push(text);
  return { status: res.status, text, type: res.headers.get('content-type') ?? '' };
}

/** a held reservation of channel a, made with the oms key */
async function reservationOfA(): Promise<string> {
  const r = await call('oms', 'POST', '/v1/reservations', { orderRef: `ord-${++seq}`, channel: 'a', lines: [{ sku: 'AUTH-1', qty: 1 }], holdSeconds: 600 });
  expect(r.status).toBe(201);
  return (JSON.parse(r.text) as { id: string }).id;
}

interface Row {
  request: () => Promise<{ method: string; path: string; body?: unknown }>;
  expect: Record<Who, number>;
}
const row = (none: number, wrong: number, admin: number, oms: number, a: number, b: number, metrics: number) => ({ none, wrong, admin, oms, a, b, metrics });
const PUBLIC = row(200, 200, 200, 200, 200, 200, 200);
const ADMIN_ONLY = row(401, 401, 200, 403, 403, 403, 403);
const OMS = row(401, 401, 200, 200, 403, 403, 403);
const fixed = (method: string, path: string, body?: unknown) => async () => ({ method, path, body });

const MATRIX: Record<string, Row> = {
  'GET /healthz': { request: fixed('GET', '/healthz'), expect: PUBLIC },
  'GET /readyz': { request: fixed('GET', '/readyz'), expect: PUBLIC },
  'GET /openapi.json': { request: fixed('GET', '/openapi.json'), expect: PUBLIC },
  'GET /docs': { request: fixed('GET', '/docs'), expect: PUBLIC },
  'GET /docs/api-reference.js': { request: fixed('GET', '/docs/api-reference.js'), expect: PUBLIC },
  'GET /metrics': { request: fixed('GET', '/metrics'), expect: row(401, 401, 200, 403, 403, 403, 200) },
  'PUT /v1/inventory/{sku}/{location}': { request: fixed('PUT', '/v1/inventory/AUTH-2/DC1', { onHand: 5 }), expect: ADMIN_ONLY },
  'GET /v1/inventory/{sku}/{location}': { request: fixed('GET', '/v1/inventory/AUTH-1/DC1'), expect: OMS },
  'PUT /v1/locations/{id}': { request: fixed('PUT', '/v1/locations/DC1', { rank: 1 }), expect: ADMIN_ONLY },
  'GET /v1/locations': { request: fixed('GET', '/v1/locations'), expect: row(401, 401, 200, 200, 200, 200, 403) },
  'GET /v1/events': { request: fixed('GET', '/v1/events?limit=5'), expect: row(401, 401, 200, 200, 200, 200, 403) },
  'GET /v1/atp': { request: fixed('GET', '/v1/atp?sku=AUTH-1&channel=a'), expect: row(401, 401, 200, 200, 200, 403, 403) },
  'POST /v1/reservations': {
    request: async () => ({ method: 'POST', path: '/v1/reservations', body: { orderRef: `m-${++seq}`, channel: 'a', lines: [{ sku: 'AUTH-1', qty: 1 }] } }),
    expect: row(401, 401, 201, 201, 201, 403, 403),
  },
  'GET /v1/reservations/{id}': {
    request: async () => ({ method: 'GET', path: `/v1/reservations/${await reservationOfA()}` }),
    // another channel's reservation is indistinguishable from a missing one
    expect: row(401, 401, 200, 200, 200, 404, 404),
  },
  // a channel key may release its own channel's holds (an abandoned cart), not another's
  'POST /v1/reservations/{id}/release': {
    request: async () => ({ method: 'POST', path: `/v1/reservations/${await reservationOfA()}/release`, body: {} }),
    expect: row(401, 401, 200, 200, 200, 403, 403),
  },
  'POST /v1/reservations/{id}/commit': { request: async () => ({ method: 'POST', path: `/v1/reservations/${await reservationOfA()}/commit`, body: {} }), expect: OMS },
  'POST /v1/reservations/{id}/extend': {
    request: async () => ({ method: 'POST', path: `/v1/reservations/${await reservationOfA()}/extend`, body: { holdSeconds: 900 } }),
    expect: OMS,
  },
  'GET /v1/rules': { request: fixed('GET', '/v1/rules'), expect: OMS },
  'PUT /v1/rules': { request: fixed('PUT', '/v1/rules', { channels: { a: { tier: 1 } } }), expect: ADMIN_ONLY },
  // supply and promise dates
  'POST /v1/supply': { request: async () => ({ method: 'POST', path: '/v1/supply', body: supplyBody() }), expect: row(401, 401, 201, 403, 403, 403, 403) },
  'GET /v1/supply': { request: fixed('GET', '/v1/supply?sku=AUTH-1'), expect: OMS },
  'GET /v1/supply/{id}': { request: async () => ({ method: 'GET', path: `/v1/supply/${await supplyId()}` }), expect: OMS },
  'PATCH /v1/supply/{id}': { request: async () => ({ method: 'PATCH', path: `/v1/supply/${await supplyId()}`, body: { qty: 40 } }), expect: ADMIN_ONLY },
  'POST /v1/supply/{id}/cancel': { request: async () => ({ method: 'POST', path: `/v1/supply/${await supplyId()}/cancel`, body: {} }), expect: ADMIN_ONLY },
  'POST /v1/supply/{id}/receipts': { request: async () => ({ method: 'POST', path: `/v1/supply/${await supplyId()}/receipts`, body: { qty: 1 } }), expect: ADMIN_ONLY },
  'GET /v1/reservations/{id}/changes': {
    request: async () => ({ method: 'GET', path: `/v1/reservations/${await reservationOfA()}/changes` }),
    expect: row(401, 401, 200, 200, 200, 404, 404),
  },
  'POST /v1/promise': { request: fixed('POST', '/v1/promise', { channel: 'a', lines: [{ sku: 'AUTH-1', qty: 1 }] }), expect: row(401, 401, 200, 200, 200, 403, 403) },
  'POST /v1/short-picks': {
    request: fixed('POST', '/v1/short-picks', { sku: 'AUTH-1', location: 'DC1', expectedQty: 10, foundQty: 9, reason: 'empty bin' }),
    expect: row(401, 401, 201, 201, 403, 403, 403),
  },
  // stock control
  'GET /v1/consistency': { request: fixed('GET', '/v1/consistency'), expect: ADMIN_ONLY },
  'GET /v1/replenishment': { request: fixed('GET', '/v1/replenishment'), expect: OMS },
  'POST /v1/reconciliations': { request: fixed('POST', '/v1/reconciliations', { snapshot: [{ sku: 'AUTH-1', location: 'DC1', onHand: 100_000 }] }), expect: ADMIN_ONLY },
  // catalog
  'PUT /v1/kits/{sku}': { request: fixed('PUT', '/v1/kits/AUTH-KIT', { components: [{ sku: 'AUTH-1', qty: 2 }] }), expect: ADMIN_ONLY },
  'GET /v1/kits/{sku}': { request: async () => ({ method: 'GET', path: `/v1/kits/${await kit()}` }), expect: row(401, 401, 200, 200, 200, 200, 403) },
  'DELETE /v1/kits/{sku}': { request: async () => ({ method: 'DELETE', path: `/v1/kits/${await kit()}` }), expect: row(401, 401, 204, 403, 403, 403, 403) },
  'PUT /v1/units/{sku}': { request: fixed('PUT', '/v1/units/AUTH-1', { units: [{ unit: 'case', factor: 12 }] }), expect: ADMIN_ONLY },
  'GET /v1/units/{sku}': { request: fixed('GET', '/v1/units/AUTH-1'), expect: row(401, 401, 200, 200, 200, 200, 403) },
};

function supplyBody() {
  return { sku: 'AUTH-1', location: 'DC1', qty: 50, expectedAt: new Date(Date.now() + 7 * 86400_000).toISOString(), reference: `po-${++seq}` };
}
async function supplyId(): Promise<string> {
  const r = await call('admin', 'POST', '/v1/supply', supplyBody());
  expect(r.status).toBe(201);
  return (JSON.parse(r.text) as { id: string }).id;
}
async function kit(): Promise<string> {
  const sku = `AUTH-KIT-${++seq}`;
  expect((await call('admin', 'PUT', `/v1/kits/${sku}`, { components: [{ sku: 'AUTH-1', qty: 1 }] })).status).toBe(200);
  return sku;
}

it('the matrix has a row for every route the app serves', () => {
  expect(Object.keys(MATRIX).sort()).toEqual(servedRoutes(svc.app));
});

describe('every route × every principal → expected status', () => {
  for (const [route, spec] of Object.entries(MATRIX)) {
    it(route, async () => {
      const got: Partial<Record<Who, number>> = {};
      for (const who of WHO) {
        const req = await spec.request();
        const r = await call(who, req.method, req.path, req.body);
        got[who] = r.status;
        if (r.status === 401 || r.status === 403) {
          expect(r.type).toBe('application/problem+json');
          expect(JSON.parse(r.text)).toMatchObject({ status: r.status, code: r.status === 401 ? 'unauthorized' : 'forbidden' });
        }
      }
      expect(got).toEqual(spec.expect);
    });
  }
});

describe('a channel key cannot act as another channel', () => {
  const countFor = async (orderRef: string) => {
    const sql = postgres(db.url, { max: 1 });
    try {
      const [r] = await sql`select count(*)::int as n from reservations where order_ref = ${orderRef}`;
      return r!.n as number;
    } finally {
      await sql.end();
    }
  };

  it('cannot reserve as another channel, and nothing is written', async () => {
    const r = await call('b', 'POST', '/v1/reservations', { orderRef: 'cross-1', channel: 'a', lines: [{ sku: 'AUTH-1', qty: 1 }] });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text).detail).toContain('"a"');
    expect(await countFor('cross-1')).toBe(0);
    const own = await call('b', 'POST', '/v1/reservations', { orderRef: 'own-1', channel: 'b', lines: [{ sku: 'AUTH-1', qty: 1 }] });
    expect(own.status).toBe(201);
    expect(await countFor('own-1')).toBe(1);
  });

  it('cannot read another channel’s reservation or its ATP, but can read its own', async () => {
    const id = await reservationOfA();
    expect((await call('b', 'GET', `/v1/reservations/${id}`)).status).toBe(404);
    expect((await call('a', 'GET', `/v1/reservations/${id}`)).status).toBe(200);
    expect((await call('b', 'GET', '/v1/atp?sku=AUTH-1&channel=a')).status).toBe(403);
    expect((await call('b', 'GET', '/v1/atp?sku=AUTH-1&channel=b')).status).toBe(200);
    expect((await call('b', 'GET', '/v1/atp?sku=AUTH-1')).status).toBe(403); // all-channel view is oms
  });

  it('cannot release (or commit, or extend) another channel’s reservation; it stays held', async () => {
    const id = await reservationOfA();
    for (const verb of ['release', 'commit']) expect((await call('b', 'POST', `/v1/reservations/${id}/${verb}`, {})).status).toBe(403);
    expect((await call('b', 'POST', `/v1/reservations/${id}/extend`, { holdSeconds: 60 })).status).toBe(403);
    const r = await call('oms', 'GET', `/v1/reservations/${id}`);
    expect(JSON.parse(r.text).status).toBe('held');
    const [row] = await sqlOnce((sql) => sql`select (select count(*) from outbox where subject = ${id})::int as events, (select sum(qty) from allocations where reservation_id = ${id})::int as held`);
    expect(row).toEqual({ events: 1, held: 1 }); // only its reservation.created
  });

  it('releases its own channel’s hold (an abandoned cart), but cannot commit or extend it; another’s or an unknown id is 403 alike', async () => {
    const id = await reservationOfA();
    expect((await call('a', 'POST', `/v1/reservations/${id}/commit`, {})).status).toBe(403);
    expect((await call('a', 'POST', `/v1/reservations/${id}/extend`, { holdSeconds: 1200 })).status).toBe(403);
    const rel = await call('a', 'POST', `/v1/reservations/${id}/release`, {}, { 'idempotency-key': 'cart-abandoned-1' });
    expect(rel.status).toBe(200);
    expect(JSON.parse(rel.text)).toMatchObject({ status: 'released', lines: [{ status: 'released' }] });
    // a retry with the same key replays the first answer
    const replay = await call('a', 'POST', `/v1/reservations/${id}/release`, {}, { 'idempotency-key': 'cart-abandoned-1' });
    expect(replay.status).toBe(200);
    expect(JSON.parse(replay.text)).toEqual(JSON.parse(rel.text));
    // another channel's reservation and a missing one get the same answer: no existence oracle
    const own = await call('b', 'POST', '/v1/reservations', { orderRef: 'own-b', channel: 'b', lines: [{ sku: 'AUTH-1', qty: 1 }] });
    const ofB = (JSON.parse(own.text) as { id: string }).id;
    const missing = '4b1d7c1e-0000-4000-8000-000000000001';
    const [other, unknown] = [await call('a', 'POST', `/v1/reservations/${ofB}/release`, {}), await call('a', 'POST', `/v1/reservations/${missing}/release`, {})];
    expect([other.status, unknown.status]).toEqual([403, 403]);
    expect(JSON.parse(other.text).detail.replace(ofB, '<id>')).toBe(JSON.parse(unknown.text).detail.replace(missing, '<id>'));
    expect(JSON.parse((await call('b', 'GET', `/v1/reservations/${ofB}`)).text).status).toBe('held');
  });
});

async function sqlOnce<T>(run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

describe('key handling', () => {
  it('rejects malformed and near-miss credentials with 401', async () => {
    const variants = [
      `Basic ${KEYS.admin}`,
      `Bearer ${KEYS.admin.slice(0, -1)}`,
      `Bearer ${KEYS.admin}x`,
      `Bearer ${KEYS.admin} extra`,
      'Bearer',
      KEYS.admin,
    ];
    for (const v of variants) expect((await http.raw('/v1/rules', { headers: { authorization: v } })).status).toBe(401);
    expect((await http.raw('/v1/rules', { headers: { authorization: `bearer   ${KEYS.oms}` } })).status).toBe(200);
  });

  it('configuration errors about keys never echo a key', () => {
    const short = 'short-secret';
    expect(() => new KeyRing(`${short}=admin`)).toThrow(/at least 16/);
    try {
      new KeyRing(`${KEYS.admin}=superuser`);
    } catch (err) {
      expect((err as Error).message).not.toContain(KEYS.admin);
    }
    try {
      new KeyRing(`${short}=admin`);
    } catch (err) {
      expect((err as Error).message).not.toContain(short);
    }
  });

  it('refuses to start open in production', async () => {
    await expect(createService(loadConfig({ NODE_ENV: 'production', DATABASE_URL: db.url, LOG_LEVEL: 'silent' }), { sweeper: false })).rejects.toThrow(/ATP_API_KEYS/);
  });

  it('no key appears in any log line, response body or span (and the scan itself works)', async () => {
    // positive control: a value that does reach the log is found by the same scan
    const canary = key('canary');
    svc.logger.info({ canary }, 'scan control');
    expect(logs.length).toBeGreaterThan(50); // trace level: one line per request at least
    const logText = logs.join('');
    expect(logText).toContain('"requestId"');
    const spanText = JSON.stringify(spans.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    expect(spanText).toContain('http.route');
    for (const secret of ALL_SECRETS) {
      expect(logText).not.toContain(secret);
      expect(spanText).not.toContain(secret);
      for (const b of bodies) expect(b).not.toContain(secret);
    }
    expect(logs.join('')).toContain(canary);
  });
});

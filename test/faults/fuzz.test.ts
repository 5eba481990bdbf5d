/**
 * Hostile input: schema-driven fuzzing (fast-check) of every endpoint with requests that must be
 * refused — malformed JSON, wrong types, huge / negative / fractional / overflowing quantities,
 * 201 and 10,000 lines, deep nesting, long and unicode SKUs, SQL metacharacters in every string,
 * duplicate JSON keys (the bad one last), unknown members, oversized and chunked bodies, bad
 * Idempotency-Key / Content-Type / Authorization / If-Match headers, bad path and query
 * parameters, valid requests the state refuses (over-commit counts, over-release) — plus raw
 * malformed HTTP on a socket. Supply (create / list / read / PATCH / cancel / receipts: far-future
 * and impossible dates, over-receipt, cancel or change after receive, qty below received),
 * promise, short picks, the event feed (cursors overflowing xid8/bigint), reconciliations (10,001 rows), consistency, replenishment, kits (kits of
 * kits, a kit of itself, a kit over a stocked SKU), units (factor 1, the base unit, duplicates),
 * pack-unit quantities on reserve / release / commit (unknown units, fractions that are not whole
 * base units, beyond MAX_QTY base units, more than held), NUL and unpaired surrogates in every
 * free-text member, wrong scopes on every route. The routes come from the app itself: a served
 * route without a fuzz arm fails the first test. Every arm is also sampled deterministically (4 each).
 *
 * Proven: every answer is a 4xx application/problem+json with its status in the body (never a
 * 5xx, never a hang), and a digest of every row of every table is byte-for-byte unchanged by the
 * rejected requests (checked after each one), as are the rules. Then: hostile strings that ARE
 * valid (SQL metacharacters, quotes, unicode, emoji in orderRef, names, reasons, keys) are stored
 * and returned verbatim, and the invariants still hold.
 */
import { connect } from 'node:net';
import { serve } from '@hono/node-server';
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { answerMalformedRequests } from '../../src/http/client-error.js';
import { createService, type Service } from '../../src/service.js';
import { overHttp } from '../helpers/api.js';
import { contractOf } from '../helpers/contract.js';
import { createTestDatabase } from '../helpers/db.js';
import { servedRoutes } from '../helpers/routes.js';
import { digestAll } from './helpers/digest.js';
import { writeFigures } from './helpers/figures.js';
import { call, isProblem, type Outcome } from './helpers/http.js';
import { checkInvariants, violations } from './helpers/invariants.js';
import { scale, SEED } from './helpers/scale.js';
import { seedStock } from './helpers/seed.js';

const ADMIN = 'fuzz-admin-key-0123456789';
const WEB = 'fuzz-web-key-0123456789ab';
const MET = 'fuzz-metrics-key-0123456789';
const MAX_BODY = 64 * 1024;
const DEADLINE_MS = 20_000;
const RUNS = scale(400, 4000);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let svc: Service;
let server: ReturnType<typeof serve>;
let port: number;
let sql: postgres.Sql;
let heldId: string;
let otherChannelId: string;
/** supply in each state (setup): open 10; partial 10 with 4 received; received 5 of 5; cancelled */
const S = { open: '', partial: '', received: '', cancelled: '' };
type SupplyName = keyof typeof S;
const figures = { requestsUnderFault: 0, faultsInjected: {} as Record<string, number>, inputsTried: 0, acknowledgedLost: 0, unitsOversold: 0, answers: {} as Record<string, number>, clientRefused: 0, validHostileStored: 0, routesCovered: 0, arms: 0 };

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_API_KEYS: `${ADMIN}=admin,${WEB}=channel:web,${MET}=metrics`, ATP_MAX_BODY_BYTES: String(MAX_BODY) }),
    { sweeper: false },
  );
  await new Promise<void>((r) => {
    server = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      port = info.port;
      r();
    });
  });
  answerMalformedRequests(server);
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await seedStock(`http://127.0.0.1:${port}`, ['FZ-1', 'FZ-2'], ['DC1', 'DC2'], 50, { authorization: `Bearer ${ADMIN}` });
  const made = await call(`http://127.0.0.1:${port}/v1/reservations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'idempotency-key': 'fz-held' },
    body: JSON.stringify({ orderRef: 'held', channel: 'web', lines: [{ sku: 'FZ-1', qty: 30 }], holdSeconds: 3600 }),
    deadlineMs: DEADLINE_MS,
  });
  if (made.kind !== 'response' || made.status !== 201) throw new Error(`setup reservation failed: ${JSON.stringify(made)}`);
  heldId = (made.json as { id: string }).id;
  // a hold of another channel: what the channel key (channel:web) may not release
  const other = await call(`http://127.0.0.1:${port}/v1/reservations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'idempotency-key': 'fz-held-store' },
    body: JSON.stringify({ orderRef: 'held-store', channel: 'store', lines: [{ sku: 'FZ-2', qty: 5 }], holdSeconds: 3600 }),
    deadlineMs: DEADLINE_MS,
  });
  if (other.kind !== 'response' || other.status !== 201) throw new Error(`setup reservation failed: ${JSON.stringify(other)}`);
  otherChannelId = (other.json as { id: string }).id;
  // the catalog and supply the new arms attack: units (FZ-1 pack = 4, FZ-2 case = 12), a kit, supply in every state
  const admin = async (method: string, path: string, body: unknown, key?: string) => {
    const o = await call(`http://127.0.0.1:${port}${path}`, { method, headers: hdr(key ? { 'idempotency-key': key } : {}), body: JSON.stringify(body), deadlineMs: DEADLINE_MS });
    if (o.kind !== 'response' || o.status >= 300) throw new Error(`setup ${method} ${path} failed: ${JSON.stringify(o)}`);
    return o.json as { id: string };
  };
  await admin('PUT', '/v1/units/FZ-1', { units: [{ unit: 'pack', factor: 4 }] });
  await admin('PUT', '/v1/units/FZ-2', { units: [{ unit: 'case', factor: 12 }] });
  await admin('PUT', '/v1/kits/FZ-KIT', { components: [{ sku: 'FZ-1', qty: 2 }, { sku: 'FZ-2', qty: 1 }] });
  const supply = (n: string, qty: number) => admin('POST', '/v1/supply', { sku: 'FZ-2', location: 'DC2', qty, expectedAt: new Date(Date.now() + 10 * 86_400_000).toISOString(), reference: `PO-${n}` }, `fz-supply-${n}`);
  S.open = (await supply('open', 10)).id;
  S.partial = (await supply('partial', 10)).id;
  await admin('POST', `/v1/supply/${S.partial}/receipts`, { qty: 4 }, 'fz-receipt-partial');
  S.received = (await supply('received', 5)).id;
  await admin('POST', `/v1/supply/${S.received}/receipts`, { qty: 5 }, 'fz-receipt-received');
  S.cancelled = (await supply('cancelled', 5)).id;
  await admin('POST', `/v1/supply/${S.cancelled}/cancel`, { reason: 'fuzz setup' }, 'fz-cancel');
});
afterAll(async () => {
  writeFigures('fuzz', figures);
  await sql?.end();
  server?.close();
  await svc?.stop();
  await db?.drop();
});

// ---------------------------------------------------------------- hostile values
const SQL_META = ["'", "''", '"', ';', '--', '/*', '*/', "' OR '1'='1", "'; DROP TABLE positions; --", '\\', '%', '_', '$1', '$$', 'E\'\\x00\'', ')); select pg_sleep(10); --', '\u0000'];
const sqlish = fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom(...SQL_META), fc.string({ maxLength: 8 })).map(([a, m, b]) => a + m + b);
const unicode = fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.constantFrom('ＳＫＵ１', 'sku-ü', '🙂', 'e\u0301', '\u202e1-UKS', 'a\u200bb', '\ud800', 'İ', 'ß'));
const longStr = fc.integer({ min: 129, max: 5000 }).map((n) => 'S'.repeat(n));
/** strings that are never a valid SKU, location, channel or uuid */
const badName = fc.oneof(sqlish, unicode, longStr, fc.constant(''), fc.constant('-lead'), fc.constant('a b')).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$/.test(s));
/** quantities that are never valid (valid: integer 1..1,000,000) */
const badQty = fc.oneof(
  fc.constantFrom<unknown>(0, -1, -0.5, 0.5, 1.5, 1_000_001, 2 ** 31, 2 ** 31 - 1 + 0.5, 2 ** 53 + 1, -(2 ** 63), Number.MAX_VALUE, '1', '1e3', null, true, [], {}, [1]),
  fc.integer({ max: 0 }),
  fc.integer({ min: 1_000_001 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
);
const notAnObject = fc.oneof(fc.constantFrom<unknown>(null, true, 0, 'x', []), fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)));
const anyJunk = fc.oneof(badQty, notAnObject, sqlish, fc.jsonValue({ maxDepth: 3 }));

const validLine = { sku: 'FZ-2', qty: 1 };
const validReserve = { orderRef: 'fz', channel: 'web', lines: [validLine] };

/** a reserve body with exactly one thing wrong (so the request must be refused) */
const badReserveBody: fc.Arbitrary<unknown> = fc.oneof(
  badQty.map((qty) => ({ ...validReserve, lines: [{ sku: 'FZ-2', qty }] })),
  badName.map((sku) => ({ ...validReserve, lines: [{ sku, qty: 1 }] })),
  badName.map((location) => ({ ...validReserve, lines: [{ sku: 'FZ-2', qty: 1, location }] })),
  badName.map((channel) => ({ ...validReserve, channel })),
  fc.oneof(fc.constant(''), longStr, fc.integer(), fc.constant(null)).map((orderRef) => ({ ...validReserve, orderRef })),
  fc.constantFrom<unknown>(0, -1, 1.5, 604_801, '60', null).map((holdSeconds) => ({ ...validReserve, holdSeconds })),
  fc.constantFrom<unknown>('true', 1, null, {}).map((allowBackorder) => ({ ...validReserve, allowBackorder })),
  fc.constantFrom<unknown>([], {}, 'FZ-2', null, [[validLine]]).map((lines) => ({ ...validReserve, lines })),
  fc.integer({ min: 201, max: 400 }).map((n) => ({ ...validReserve, lines: Array.from({ length: n }, () => validLine) })),
  fc.tuple(fc.oneof(sqlish, unicode, fc.constant('__proto__'), fc.constant('constructor')), anyJunk).map(([k, v]) => ({ ...validReserve, [k]: v })),
  fc.tuple(fc.oneof(sqlish, unicode), anyJunk).map(([k, v]) => ({ ...validReserve, lines: [{ ...validLine, [k]: v }] })),
  notAnObject,
  // all-hostile strings where strings are free, with one invalid member elsewhere
  fc.tuple(fc.oneof(sqlish, unicode), badQty).map(([orderRef, qty]) => ({ ...validReserve, orderRef: orderRef.slice(0, 128) || 'x', lines: [{ sku: 'FZ-2', qty }] })),
);

/** raw JSON text: malformed, deeply nested, duplicate keys (the invalid one last), overflowing literals */
const badJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }).filter((s) => {
    try {
      JSON.parse(s);
      return false;
    } catch {
      return true;
    }
  }),
  fc.constantFrom('{', '{"orderRef":', "{'orderRef':'x'}", '{"lines":[1,]}', '{"a":NaN}', '{"qty":Infinity}', '\ufeff{}', '{"x":"\\ud800"', '[', 'null', '""'),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => `{"orderRef":"x","channel":"web","lines":${'['.repeat(n)}${']'.repeat(n)}}`),
  fc.integer({ min: 1_000, max: 30_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.constantFrom('1e309', '-1e309', '1e-400', '123456789012345678901234567890').map((q) => `{"orderRef":"x","channel":"web","lines":[{"sku":"FZ-2","qty":${q}}]}`),
  badQty.map((q) => `{"orderRef":"x","channel":"web","lines":[{"sku":"FZ-2","qty":1,"qty":${JSON.stringify(q) ?? 'null'}}]}`),
  badName.map((c) => `{"orderRef":"x","channel":"web","lines":[{"sku":"FZ-2","qty":1}],"channel":${JSON.stringify(c)}}`),
);

const hdr = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...extra });
const goodKey = fc.uuid().map((u) => `fz-${u}`);
const badKey = fc.oneof(fc.constant(''), fc.integer({ min: 256, max: 1000 }).map((n) => 'k'.repeat(n)), fc.constantFrom('with space', 'tab\tkey', 'ünï', 'k\u007f'));
/** strings Postgres text/jsonb cannot hold (NUL, unpaired surrogates), wrapped in SQL metacharacters */
const unstorable = fc
  .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\udc00b', '\ud83d'), fc.constantFrom(...SQL_META), fc.string({ maxLength: 8 }))
  .map(([a, bad, meta, b]) => a + meta + bad + b);
/** never a unit name (lower-case letter, then up to 31 of [a-z0-9_-]) */
const badUnitName = fc.oneof(fc.constantFrom('CASE', '', '1case', 'a'.repeat(33), 'ca se', 'case\u0000', 'cäse', '_x', '\ud800'), sqlish).filter((s) => !/^[a-z][a-z0-9_-]{0,31}$/.test(s));
const who = (key?: string): Record<string, string> => ({ 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) });
/** no key, an unknown key, a metrics-only key: refused by every route that needs a scope */
const wrongWho = [who(), who('wrong-key-wrong-key-wrong-key'), who(MET)];
/** a channel key (channel:web): no admin or oms scope */
const webWho = who(WEB);

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  kind: string;
  /** a public endpoint: answered (never a 5xx), not necessarily refused */
  answered?: boolean;
}
const req = (kind: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Req => ({
  kind,
  method,
  path,
  headers,
  body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
});
/** percent-encode, with lone surrogates as their (invalid) 3-byte UTF-8 forms: hostile bytes in the path */
const enc = (s: string) =>
  Array.from(s, (ch) => {
    try {
      return encodeURIComponent(ch);
    } catch {
      const c = ch.charCodeAt(0);
      return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
  }).join('');

// ---------------------------------------------------------------- supply, promise, short picks, catalog, stock control
const SUPPLY = (suffix = '') => `/v1/supply${suffix}`;
const future = new Date(Date.now() + 30 * 86_400_000).toISOString();
const validSupply = { sku: 'FZ-1', location: 'DC1', qty: 5, expectedAt: future };
/** dates the supply schema must refuse: not ISO with offset, impossible, before 2000 or after 9999 (UTC), not strings */
const badDate = fc.oneof(
  fc.constantFrom<unknown>(
    '10000-01-01T00:00:00Z',
    '+010000-01-01T00:00:00Z',
    '+275760-09-13T00:00:00.000Z',
    '9999-12-31T23:59:59-12:00',
    '1999-12-31T23:59:59Z',
    '1970-01-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-12-01T25:00:00Z',
    '2026-12-01',
    '2026-12-01T00:00:00',
    'tomorrow',
    '',
    'NaN',
    `${future}\u0000`,
    1_780_000_000_000,
    null,
    {},
  ),
  sqlish,
);
const badSupplyBody: fc.Arbitrary<unknown> = fc.oneof(
  badQty.map((qty) => ({ ...validSupply, qty })),
  badName.map((sku) => ({ ...validSupply, sku })),
  badName.map((location) => ({ ...validSupply, location })),
  badDate.map((expectedAt) => ({ ...validSupply, expectedAt })),
  fc.constantFrom<unknown>('PO', 'return', '', 1, null).map((kind) => ({ ...validSupply, kind })),
  fc.oneof(unstorable, fc.constantFrom<unknown>('', 'r'.repeat(201), 1, null, [])).map((reference) => ({ ...validSupply, reference })),
  fc.tuple(fc.oneof(sqlish, unicode), badQty).map(([reference, qty]) => ({ ...validSupply, reference: reference.slice(0, 200) || 'x', qty })),
  fc.tuple(fc.oneof(sqlish, unicode, fc.constant('__proto__')), anyJunk).map(([k, v]) => ({ ...validSupply, [k]: v })),
  fc.constantFrom<unknown>({}, { sku: 'FZ-1' }, { ...validSupply, expectedAt: undefined }),
  notAnObject,
);
/** a quantity in a pack unit that is refused whatever the stock: unknown / malformed units, fractions that are not whole base units, beyond MAX_QTY base units */
const badUnitLine = (sku: string, unit: string, factor: number) =>
  fc.oneof(
    badUnitName.map((u) => ({ sku, qty: 1, unit: u })),
    fc.constantFrom('pallet', 'each2', sku === 'FZ-1' ? 'case' : 'pack').map((u) => ({ sku, qty: 1, unit: u })),
    fc.constantFrom(0.1, 0.3, 0.7, 2.1, 1e-9, 1e-300).map((qty) => ({ sku, qty, unit })),
    fc.tuple(fc.constantFrom(1.5, 0.5, 2.000001), fc.boolean()).map(([qty, each]) => (each ? { sku, qty, unit: 'each' } : { sku, qty })),
    fc.integer({ min: Math.floor(1_000_000 / factor) + 1, max: 1_000_000 }).map((qty) => ({ sku, qty, unit })),
    fc.constantFrom<unknown>(0, -1, -0.25, 1_000_001, '1', null).map((qty) => ({ sku, qty, unit })),
    fc.constantFrom<unknown>(12, null, ['case'], {}, '').map((u) => ({ sku, qty: 1, unit: u })),
  );
const kitLines = fc.constantFrom<unknown[]>(
  [{ sku: 'FZ-KIT', qty: 500_001 }], // 1,000,002 FZ-1: beyond MAX_QTY base units
  [{ sku: 'FZ-KIT', qty: 1, unit: 'case' }], // a kit has no pack units
  [{ sku: 'FZ-KIT', qty: 1.5 }],
  [{ sku: 'FZ-KIT', qty: 0.5, unit: 'each' }],
);
const promiseBody: fc.Arbitrary<unknown> = fc.oneof(
  badUnitLine('FZ-2', 'case', 12).map((l) => ({ channel: 'web', lines: [l] })),
  kitLines.map((lines) => ({ channel: 'web', lines })),
  badQty.map((qty) => ({ channel: 'web', lines: [{ sku: 'FZ-1', qty }] })),
  badName.map((sku) => ({ channel: 'web', lines: [{ sku, qty: 1 }] })),
  badName.map((channel) => ({ channel, lines: [validLine] })),
  fc.constantFrom<unknown>([], 'FZ-1', null, Array.from({ length: 201 }, () => validLine)).map((lines) => ({ channel: 'web', lines })),
  fc.constantFrom<unknown>('yes', 1, null).map((shipComplete) => ({ channel: 'web', lines: [validLine], shipComplete })),
  fc.tuple(fc.oneof(sqlish, unicode, fc.constant('orderRef')), anyJunk).map(([k, v]) => ({ channel: 'web', lines: [validLine], [k]: v })),
  notAnObject,
);
const validShortPick = { sku: 'FZ-1', location: 'DC1', expectedQty: 5, foundQty: 5, reason: 'count' };
const badCount = fc.constantFrom<unknown>(-1, 0.5, 1_000_000_001, 2 ** 53 + 1, '5', null, true, []);
const shortPickBody: fc.Arbitrary<unknown> = fc.oneof(
  badCount.map((expectedQty) => ({ ...validShortPick, expectedQty })),
  badCount.map((foundQty) => ({ ...validShortPick, foundQty })),
  badName.map((sku) => ({ ...validShortPick, sku })),
  badName.map((location) => ({ ...validShortPick, location })),
  fc.oneof(unstorable, fc.constantFrom<unknown>('', 'r'.repeat(201), 1, null)).map((reason) => ({ ...validShortPick, reason })),
  fc.oneof(badName, fc.constant('00000000-0000-0000-0000-00000000000g')).map((reservationId) => ({ ...validShortPick, reservationId })),
  fc.tuple(fc.oneof(sqlish, unicode), anyJunk).map(([k, v]) => ({ ...validShortPick, [k]: v })),
  fc.constantFrom<unknown>({ ...validShortPick, reason: undefined }, {}),
  notAnObject,
);
const snapRow = { sku: 'FZ-1', location: 'DC1', onHand: 50 };
const reconciliationBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>([], null, 'all', {}).map((snapshot) => ({ snapshot })),
  badCount.filter((v) => v !== 0).map((onHand) => ({ snapshot: [{ ...snapRow, onHand }] })),
  badName.map((sku) => ({ snapshot: [{ ...snapRow, sku }] })),
  badName.map((location) => ({ snapshot: [snapRow, { ...snapRow, location }] })),
  fc.tuple(fc.oneof(sqlish, unicode), anyJunk).map(([k, v]) => ({ snapshot: [{ ...snapRow, [k]: v }] })),
  fc.constantFrom<unknown>('yes', 1, null).map((apply) => ({ snapshot: [snapRow], apply })),
  fc.constantFrom<unknown>('true', 0, null).map((complete) => ({ snapshot: [snapRow], complete })),
  fc.oneof(unstorable, fc.constantFrom<unknown>('', 'r'.repeat(201), 1)).map((reason) => ({ snapshot: [snapRow], reason })),
  fc.constant({ snapshot: Array.from({ length: 10_001 }, (_, i) => ({ sku: `FZ-${i}`, location: 'DC1', onHand: 1 })) }),
  notAnObject,
);
const badKitBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>([], null, 'FZ-1', Array.from({ length: 51 }, (_, i) => ({ sku: `C-${i}`, qty: 1 }))).map((components) => ({ components })),
  badQty.map((qty) => ({ components: [{ sku: 'FZ-1', qty }] })),
  badName.map((sku) => ({ components: [{ sku, qty: 1 }] })),
  fc.tuple(fc.oneof(sqlish, unicode), anyJunk).map(([k, v]) => ({ components: [{ sku: 'FZ-1', qty: 1, [k]: v }] })),
  fc.constantFrom<unknown>({}, { components: [{ sku: 'FZ-1', qty: 1 }], name: 'x' }),
  notAnObject,
);
const badUnitsBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(1, 0, -12, 1.5, 1_000_001, '12', null).map((factor) => ({ units: [{ unit: 'box', factor }] })),
  badUnitName.map((unit) => ({ units: [{ unit, factor: 6 }] })),
  fc.constant({ units: [{ unit: 'each', factor: 6 }] }), // the base unit
  fc.constant({ units: [{ unit: 'box', factor: 6 }, { unit: 'box', factor: 8 }] }), // listed twice
  fc.constant({ units: Array.from({ length: 21 }, (_, i) => ({ unit: `u${i}`, factor: i + 2 })) }),
  fc.tuple(fc.oneof(sqlish, unicode), anyJunk).map(([k, v]) => ({ units: [{ unit: 'box', factor: 6, [k]: v }] })),
  fc.constantFrom<unknown>({}, { units: 'case' }, { units: [{ unit: 'box', factor: 6 }], x: 1 }),
  notAnObject,
);
const badUuidPath = fc.oneof(badName, fc.constantFrom('00000000-0000-0000-0000-00000000000', "' OR 1=1 --", '1', '../reservations'));
const answered = (r: Req): Req => ({ ...r, answered: true });
const junkQuery = fc.oneof(sqlish, unicode, fc.constant('%00')).map((s) => `?q=${enc(s)}&${enc(s)}=1`);

interface Arm {
  /** the served route (`METHOD /path/{param}`) this arm attacks; 'none' for paths no route serves */
  route: string;
  arb: fc.Arbitrary<Req>;
}
const arm = (route: string, arb: fc.Arbitrary<Req>): Arm => ({ route, arb });
const RES = 'POST /v1/reservations';
const VERB = (v: string) => `POST /v1/reservations/{id}/${v}`;

const arms: Arm[] = [
  // POST /v1/reservations
  arm(RES, fc.tuple(badReserveBody, goodKey).map(([b, k]) => req('reserve-body', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), b))),
  arm(RES, fc.tuple(badJsonText, goodKey).map(([t, k]) => req('reserve-json-text', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), t))),
  arm(RES, badKey.map((k) => req('reserve-bad-key', 'POST', '/v1/reservations', hdr(k === '' ? {} : { 'idempotency-key': k }), validReserve))),
  arm(
    RES,
    fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ''), goodKey).map(([ct, k]) =>
      req('reserve-content-type', 'POST', '/v1/reservations', { ...hdr({ 'idempotency-key': k }), 'content-type': ct }, validReserve),
    ),
  ),
  arm(
    RES,
    fc.tuple(fc.constantFrom('', 'Bearer', 'Bearer wrong-key-wrong-key-wrong', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${ADMIN}x`, `bearer  ${ADMIN.slice(1)}`), goodKey).map(([a, k]) =>
      req('reserve-auth', 'POST', '/v1/reservations', { 'content-type': 'application/json', 'idempotency-key': k, ...(a ? { authorization: a } : {}) }, validReserve),
    ),
  ),
  arm(
    RES,
    fc.tuple(fc.constantFrom('store', 'b2b', 'marketplace'), goodKey).map(([ch, k]) =>
      req('reserve-wrong-channel', 'POST', '/v1/reservations', { ...hdr({ 'idempotency-key': k }), authorization: `Bearer ${WEB}` }, { ...validReserve, channel: ch }),
    ),
  ),
  arm(
    RES,
    fc.tuple(fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 4 }), goodKey).map(([n, k]) =>
      req('reserve-oversized', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, orderRef: 'x'.repeat(n) }),
    ),
  ),
  arm(RES, goodKey.map((k) => req('reserve-10000-lines', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines: Array.from({ length: 10_000 }, () => validLine) }))),
  // the same key as the setup reservation with another body
  arm(RES, fc.constant(req('reserve-key-reuse', 'POST', '/v1/reservations', hdr({ 'idempotency-key': 'fz-held' }), validReserve))),
  // more than is available: refused by the state, not the schema
  arm(RES, goodKey.map((k) => req('reserve-insufficient', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines: [{ sku: 'FZ-1', qty: 1_000_000 }] }))),
  // inventory
  arm('PUT /v1/inventory/{sku}/{location}', fc.tuple(badName, fc.constantFrom('DC1', 'DC2')).map(([s, l]) => req('inventory-bad-sku', 'PUT', `/v1/inventory/${enc(s)}/${l}`, hdr(), { onHand: 1 }))),
  arm('PUT /v1/inventory/{sku}/{location}', fc.tuple(badName).map(([l]) => req('inventory-bad-location', 'PUT', `/v1/inventory/FZ-1/${enc(l)}`, hdr(), { onHand: 1 }))),
  arm(
    'PUT /v1/inventory/{sku}/{location}',
    fc
      .oneof(
        badQty.filter((v) => !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 1_000_000_000)).map((onHand) => ({ onHand })),
        fc.constantFrom<unknown>({}, { onHand: 1, extra: 1 }, { onHand: 1, reason: '' }, { onHand: 1, reason: 'r'.repeat(201) }, { onHand: 1, qualityHold: -1 }, { onHand: 1_000_000_001 }),
        unstorable.map((reason) => ({ onHand: 50, reason })),
        notAnObject,
      )
      .map((b) => req('inventory-bad-body', 'PUT', '/v1/inventory/FZ-1/DC1', hdr(), b)),
  ),
  arm('PUT /v1/inventory/{sku}/{location}', fc.integer({ min: 0, max: 29 }).map((n) => req('inventory-overcommit', 'PUT', '/v1/inventory/FZ-1/DC1', hdr(), { onHand: n }))),
  arm('PUT /v1/inventory/{sku}/{location}', fc.constantFrom('%E0%A4%A', '%', '%00', '%2F..%2F', '..', '%FF').map((p) => req('inventory-bad-escape', 'PUT', `/v1/inventory/${p}/DC1`, hdr(), { onHand: 1 }))),
  arm('PUT /v1/inventory/{sku}/{location}', fc.constant(req('inventory-forbidden', 'PUT', '/v1/inventory/FZ-1/DC1', { ...hdr(), authorization: `Bearer ${WEB}` }, { onHand: 999 }))),
  arm('GET /v1/inventory/{sku}/{location}', badName.map((s) => req('inventory-get-bad', 'GET', `/v1/inventory/${enc(s)}/DC1`, hdr()))),
  // locations
  arm('PUT /v1/locations/{id}', fc.tuple(badName).map(([id]) => req('location-bad-id', 'PUT', `/v1/locations/${enc(id)}`, hdr(), { name: 'x' }))),
  arm(
    'PUT /v1/locations/{id}',
    fc
      .oneof(fc.constantFrom<unknown>({ rank: -1 }, { rank: 1.5 }, { rank: '1' }, { name: '' }, { name: 'n'.repeat(201) }, { id: 'x' }, [], null), unstorable.map((name) => ({ name })))
      .map((b) => req('location-bad-body', 'PUT', '/v1/locations/DCX', hdr(), b)),
  ),
  arm('GET /v1/locations', fc.constantFrom(...wrongWho).map((h) => req('locations-list-forbidden', 'GET', '/v1/locations', h))),
  // ATP
  arm('GET /v1/atp', badName.map((s) => req('atp-bad-sku', 'GET', `/v1/atp?sku=${enc(s)}`, hdr()))),
  arm('GET /v1/atp', badName.map((c) => req('atp-bad-channel', 'GET', `/v1/atp?sku=FZ-1&channel=${enc(c)}`, hdr()))),
  arm(
    'GET /v1/atp',
    fc.constantFrom('/v1/atp', `/v1/atp?${Array.from({ length: 101 }, (_, i) => `sku=S${i}`).join('&')}`, '/v1/atp?sku=', '/v1/atp?sku[]=x').map((p) => req('atp-bad-query', 'GET', p, hdr())),
  ),
  arm('GET /v1/atp', fc.constant(req('atp-forbidden', 'GET', '/v1/atp?sku=FZ-1&channel=store', { ...hdr(), authorization: `Bearer ${WEB}` }))),
  arm('GET /v1/atp', fc.oneof(badUnitName, fc.constantFrom('pallet', 'case')).map((u) => req('atp-bad-unit', 'GET', `/v1/atp?sku=FZ-1&unit=${enc(u)}`, hdr()))),
  // reservations by id
  arm('GET /v1/reservations/{id}', badName.map((id) => req('reservation-bad-id', 'GET', `/v1/reservations/${enc(id)}`, hdr()))),
  arm('GET /v1/reservations/{id}', fc.uuid().map((id) => req('reservation-unknown', 'GET', `/v1/reservations/${id}`, hdr()))),
  ...['release', 'commit', 'extend'].flatMap((v) => [
    arm(VERB(v), fc.tuple(fc.uuid(), goodKey).map(([id, k]) => req('verb-unknown-id', 'POST', `/v1/reservations/${id}/${v}`, hdr({ 'idempotency-key': k }), v === 'extend' ? { holdSeconds: 60 } : {}))),
    arm(VERB(v), fc.tuple(badName, goodKey).map(([id, k]) => req('verb-bad-id', 'POST', `/v1/reservations/${enc(id)}/${v}`, hdr({ 'idempotency-key': k }), {}))),
    arm(
      VERB(v),
      fc
        .tuple(
          goodKey,
          fc.oneof(badQty.map((qty) => ({ lines: [{ sku: 'FZ-1', qty }] })), badName.map((sku) => ({ lines: [{ sku, qty: 1 }] })), fc.constantFrom<unknown>({ lines: [] }, { lines: 'all' }, { x: 1 }, [], 'x')),
        )
        .map(([k, b]) => req('verb-bad-body', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), v === 'extend' ? { holdSeconds: (b as { lines?: unknown }).lines ?? b } : b)),
    ),
    // a channel key may release its own channel's holds (not commit or extend them), never another channel's
    arm(VERB(v), goodKey.map((k) => req('verb-no-oms-scope', 'POST', `/v1/reservations/${v === 'release' ? otherChannelId : heldId}/${v}`, { ...hdr({ 'idempotency-key': k }), authorization: `Bearer ${WEB}` }, v === 'extend' ? { holdSeconds: 60 } : {}))),
    arm(VERB(v), badKey.map((k) => req('verb-bad-key', 'POST', `/v1/reservations/${heldId}/${v}`, hdr(k === '' ? {} : { 'idempotency-key': k }), v === 'extend' ? { holdSeconds: 60 } : {}))),
    arm(VERB(v), fc.tuple(badJsonText.filter((t) => t !== '\ufeff{}'), goodKey).map(([t, k]) => req('verb-json-text', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), t))),
  ]),
  ...['release', 'commit'].flatMap((v) => [
    arm(VERB(v), fc.tuple(goodKey, fc.integer({ min: 31, max: 1_000_000 })).map(([k, qty]) => req('verb-exceeds-held', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), { lines: [{ sku: 'FZ-1', qty }] }))),
    // quantities in pack units: unknown units, fractions that are not whole base units, more than held (FZ-1: pack = 4)
    arm(VERB(v), fc.tuple(goodKey, fc.oneof(badUnitLine('FZ-1', 'pack', 4), fc.constantFrom({ sku: 'FZ-1', qty: 8, unit: 'pack' }, { sku: 'FZ-1', qty: 7.75, unit: 'pack' }))).map(([k, line]) => req('verb-unit-line', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), { lines: [line] }))),
  ]),
  // rules (held in memory: compared separately)
  arm(
    'PUT /v1/rules',
    fc
      .oneof(
        fc.constantFrom<unknown>({ defaultTier: 0 }, { defaultTier: 10 }, { defaultTier: 1.5 }, { protect: { '0': 1 } }, { protect: { '1': -1 } }, { protect: { '1': { share: 1.5 } } }, { channels: { web: { tier: 'x' } } }, { channels: { web: { maxShare: 2 } } }, { x: 1 }),
        badName.map((c) => ({ channels: { [c]: { tier: 1 } } })),
        notAnObject,
      )
      .map((b) => req('rules-bad-body', 'PUT', '/v1/rules', hdr(), b)),
  ),
  arm('PUT /v1/rules', fc.constantFrom('abc', '"x"', 'W/"y"', '1,2', '"1234567890"').map((m) => req('rules-bad-if-match', 'PUT', '/v1/rules', hdr({ 'if-match': m }), {}))),
  arm('PUT /v1/rules', fc.constant(req('rules-stale-if-match', 'PUT', '/v1/rules', hdr({ 'if-match': '"999"' }), {}))),
  arm('PUT /v1/rules', fc.constant(req('rules-forbidden', 'PUT', '/v1/rules', { ...hdr(), authorization: `Bearer ${WEB}` }, {}))),
  arm('GET /v1/rules', fc.constantFrom(...wrongWho, webWho).map((h) => req('rules-get-forbidden', 'GET', '/v1/rules', h))),
  // no such route or method
  arm(
    'none',
    fc
      .tuple(fc.constantFrom('DELETE', 'PATCH', 'POST', 'PUT'), fc.constantFrom('/v1/reservations/' + '00000000-0000-0000-0000-000000000000', '/v1/atp', '/v1/locations', '/v1/nope', '/v2/reservations', '/v1/supply/00000000-0000-0000-0000-000000000000/receipts/1', '/v1/kits', '/v1/consistency'))
      .map(([m, p]) => req('no-route', m, p, hdr({ 'idempotency-key': 'fz-noroute' }), m === 'DELETE' ? undefined : {})),
  ),
];

const newArms: Arm[] = [
  // POST /v1/reservations with units and kits
  arm(RES, fc.tuple(badUnitLine('FZ-2', 'case', 12), goodKey).map(([l, k]) => req('reserve-unit-line', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines: [l] }))),
  arm(RES, fc.tuple(kitLines, goodKey).map(([lines, k]) => req('reserve-kit-line', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines }))),
  // valid units and kits beyond what is available (FZ-1 has 70 free, FZ-2 109 after the setup receipts; case = 12, pack = 4, kit = 2 FZ-1 + 1 FZ-2)
  arm(
    RES,
    fc
      .tuple(
        fc.constantFrom<unknown[]>([{ sku: 'FZ-2', qty: 10, unit: 'case' }], [{ sku: 'FZ-1', qty: 18, unit: 'pack' }], [{ sku: 'FZ-1', qty: 17.75, unit: 'pack' }], [{ sku: 'FZ-KIT', qty: 36 }], [{ sku: 'FZ-KIT', qty: 30 }, { sku: 'FZ-1', qty: 11 }]),
        goodKey,
      )
      .map(([lines, k]) => req('reserve-units-insufficient', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines })),
  ),
  // supply
  arm('POST /v1/supply', fc.tuple(badSupplyBody, goodKey).map(([b, k]) => req('supply-create-body', 'POST', SUPPLY(), hdr({ 'idempotency-key': k }), b))),
  arm('POST /v1/supply', fc.tuple(badJsonText, goodKey).map(([t, k]) => req('supply-create-json-text', 'POST', SUPPLY(), hdr({ 'idempotency-key': k }), t))),
  arm('POST /v1/supply', fc.tuple(fc.constantFrom(...wrongWho, webWho), badKey).map(([h, k]) => req('supply-create-forbidden-or-no-key', 'POST', SUPPLY(), { ...h, ...(k ? { 'idempotency-key': k } : {}) }, validSupply))),
  arm(
    'GET /v1/supply',
    fc
      .oneof(
        badName.map((s) => `?sku=${enc(s)}`),
        fc.constantFrom('?status=x', '?status=OPEN', '?limit=0', '?limit=1001', '?limit=1.5', '?limit=abc', '?limit=-1', '?limit=', '?status=open&status=received'),
      )
      .map((q) => req('supply-list-bad-query', 'GET', SUPPLY(q), hdr())),
  ),
  arm('GET /v1/supply', fc.constantFrom(...wrongWho, webWho).map((h) => req('supply-list-forbidden', 'GET', SUPPLY('?sku=FZ-1'), h))),
  arm('GET /v1/supply/{id}', badUuidPath.map((id) => req('supply-get-bad-id', 'GET', SUPPLY(`/${enc(id)}`), hdr()))),
  arm('GET /v1/supply/{id}', fc.uuid().map((id) => req('supply-get-unknown', 'GET', SUPPLY(`/${id}`), hdr()))),
  arm('GET /v1/supply/{id}', fc.constantFrom(...wrongWho, webWho).map((h) => req('supply-get-forbidden', 'GET', SUPPLY(`/${S.open}`), h))),
  arm(
    'PATCH /v1/supply/{id}',
    fc
      .tuple(
        fc.oneof(
          badDate.map((expectedAt) => ({ expectedAt })),
          badQty.map((qty) => ({ qty })),
          fc.oneof(unstorable, fc.constantFrom<unknown>('', 'r'.repeat(201), 7)).map((reference) => ({ reference })),
          fc.oneof(unstorable, fc.constantFrom<unknown>('', 'r'.repeat(201), 7)).map((reason) => ({ qty: 12, reason })),
          fc.constantFrom<unknown>({}, { reason: 'only a reason' }, { qty: 12, status: 'received' }, { qty: 12, sku: 'FZ-2' }, [], null),
          fc.tuple(fc.oneof(sqlish, unicode), badQty).map(([reason, qty]) => ({ reason: reason.slice(0, 200) || 'x', qty })),
        ),
        goodKey,
      )
      .map(([b, k]) => req('supply-patch-body', 'PATCH', SUPPLY(`/${S.open}`), hdr({ 'idempotency-key': k }), b)),
  ),
  arm(
    'PATCH /v1/supply/{id}',
    fc
      .tuple(fc.constantFrom<[SupplyName, unknown]>(['received', { qty: 5 }], ['cancelled', { qty: 9 }], ['received', { expectedAt: future }], ['partial', { qty: 3 }], ['partial', { qty: 1 }]), goodKey)
      .map(([[id, b], k]) => req('supply-patch-state', 'PATCH', SUPPLY(`/${S[id]}`), hdr({ 'idempotency-key': k }), b)),
  ),
  arm('PATCH /v1/supply/{id}', fc.tuple(fc.oneof(badUuidPath, fc.uuid()), goodKey).map(([id, k]) => req('supply-patch-bad-id', 'PATCH', SUPPLY(`/${enc(id)}`), hdr({ 'idempotency-key': k }), { qty: 3 }))),
  arm('PATCH /v1/supply/{id}', fc.tuple(fc.constantFrom(...wrongWho, webWho), badKey).map(([h, k]) => req('supply-patch-forbidden-or-no-key', 'PATCH', SUPPLY(`/${S.open}`), { ...h, ...(k ? { 'idempotency-key': k } : {}) }, { qty: 3 }))),
  // cancel after receive (cancelling cancelled supply is a documented no-op: 200, not refused)
  arm(
    'POST /v1/supply/{id}/cancel',
    fc
      .tuple(fc.constantFrom<[SupplyName, unknown]>(['received', {}], ['received', { reason: 'again' }]), goodKey)
      .map(([[id, b], k]) => req('supply-cancel-state', 'POST', SUPPLY(`/${S[id]}/cancel`), hdr({ 'idempotency-key': k }), b)),
  ),
  arm(
    'POST /v1/supply/{id}/cancel',
    fc
      .tuple(fc.oneof(unstorable.map((reason) => ({ reason })), fc.constantFrom<unknown>({ reason: '' }, { reason: 'r'.repeat(201) }, { reason: 1 }, { x: 1 }, [], 'x', null)), goodKey)
      .map(([b, k]) => req('supply-cancel-body', 'POST', SUPPLY(`/${S.open}/cancel`), hdr({ 'idempotency-key': k }), b)),
  ),
  arm('POST /v1/supply/{id}/cancel', fc.tuple(fc.oneof(badUuidPath, fc.uuid()), goodKey).map(([id, k]) => req('supply-cancel-bad-id', 'POST', SUPPLY(`/${enc(id)}/cancel`), hdr({ 'idempotency-key': k }), {}))),
  arm('POST /v1/supply/{id}/cancel', fc.tuple(fc.constantFrom(...wrongWho, webWho), badKey).map(([h, k]) => req('supply-cancel-forbidden-or-no-key', 'POST', SUPPLY(`/${S.open}/cancel`), { ...h, ...(k ? { 'idempotency-key': k } : {}) }, {}))),
  // over-receipt and receipts of closed supply
  arm(
    'POST /v1/supply/{id}/receipts',
    fc
      .tuple(
        fc.oneof(
          fc.integer({ min: 11, max: 1_000_000 }).map((qty): [SupplyName, number] => ['open', qty]),
          fc.integer({ min: 7, max: 1_000_000 }).map((qty): [SupplyName, number] => ['partial', qty]),
          fc.constantFrom<[SupplyName, number]>(['received', 1], ['cancelled', 1]),
        ),
        goodKey,
      )
      .map(([[id, qty], k]) => req('supply-receipt-state', 'POST', SUPPLY(`/${S[id]}/receipts`), hdr({ 'idempotency-key': k }), { qty })),
  ),
  arm(
    'POST /v1/supply/{id}/receipts',
    fc
      .tuple(fc.oneof(badQty.map((qty) => ({ qty })), unstorable.map((reference) => ({ qty: 1, reference })), fc.constantFrom<unknown>({}, { qty: 1, reference: '' }, { qty: 1, location: 'DC2' }, [], null)), goodKey)
      .map(([b, k]) => req('supply-receipt-body', 'POST', SUPPLY(`/${S.open}/receipts`), hdr({ 'idempotency-key': k }), b)),
  ),
  arm('POST /v1/supply/{id}/receipts', fc.tuple(fc.oneof(badUuidPath, fc.uuid()), goodKey).map(([id, k]) => req('supply-receipt-bad-id', 'POST', SUPPLY(`/${enc(id)}/receipts`), hdr({ 'idempotency-key': k }), { qty: 1 }))),
  arm('POST /v1/supply/{id}/receipts', fc.tuple(fc.constantFrom(...wrongWho, webWho), badKey).map(([h, k]) => req('supply-receipt-forbidden-or-no-key', 'POST', SUPPLY(`/${S.open}/receipts`), { ...h, ...(k ? { 'idempotency-key': k } : {}) }, { qty: 1 }))),
  // a reservation's changes
  arm('GET /v1/reservations/{id}/changes', fc.oneof(badUuidPath, fc.uuid()).map((id) => req('changes-bad-or-unknown-id', 'GET', `/v1/reservations/${enc(id)}/changes`, hdr()))),
  arm('GET /v1/reservations/{id}/changes', fc.constantFrom(...wrongWho.slice(0, 2)).map((h) => req('changes-unauthenticated', 'GET', `/v1/reservations/${heldId}/changes`, h))),
  // promise (read-only)
  arm('POST /v1/promise', promiseBody.map((b) => req('promise-body', 'POST', '/v1/promise', hdr(), b))),
  arm('POST /v1/promise', badJsonText.map((t) => req('promise-json-text', 'POST', '/v1/promise', hdr(), t))),
  arm('POST /v1/promise', fc.constantFrom('store', 'b2b').map((channel) => req('promise-wrong-channel', 'POST', '/v1/promise', webWho, { channel, lines: [validLine] }))),
  arm('POST /v1/promise', fc.constantFrom(...wrongWho).map((h) => req('promise-forbidden', 'POST', '/v1/promise', h, { channel: 'web', lines: [validLine] }))),
  // short picks
  arm('POST /v1/short-picks', fc.tuple(shortPickBody, goodKey).map(([b, k]) => req('short-pick-body', 'POST', '/v1/short-picks', hdr({ 'idempotency-key': k }), b))),
  arm(
    'POST /v1/short-picks',
    fc
      .tuple(fc.oneof(fc.uuid().map((reservationId) => ({ ...validShortPick, reservationId })), fc.constantFrom({ ...validShortPick, location: 'DC9' }, { ...validShortPick, sku: 'FZ-NONE' })), goodKey)
      .map(([b, k]) => req('short-pick-unknown', 'POST', '/v1/short-picks', hdr({ 'idempotency-key': k }), b)),
  ),
  arm('POST /v1/short-picks', fc.tuple(fc.constantFrom(...wrongWho, webWho), badKey).map(([h, k]) => req('short-pick-forbidden-or-no-key', 'POST', '/v1/short-picks', { ...h, ...(k ? { 'idempotency-key': k } : {}) }, validShortPick))),
  // stock control
  arm('POST /v1/reconciliations', fc.tuple(reconciliationBody, goodKey).map(([b, k]) => req('reconciliation-body', 'POST', '/v1/reconciliations', hdr({ 'idempotency-key': k }), b))),
  arm('POST /v1/reconciliations', fc.tuple(fc.constantFrom(...wrongWho, webWho), badKey).map(([h, k]) => req('reconciliation-forbidden-or-no-key', 'POST', '/v1/reconciliations', { ...h, ...(k ? { 'idempotency-key': k } : {}) }, { snapshot: [snapRow] }))),
  arm('GET /v1/consistency', fc.tuple(fc.constantFrom(...wrongWho, webWho), junkQuery).map(([h, q]) => req('consistency-forbidden', 'GET', `/v1/consistency${q}`, h))),
  arm(
    'GET /v1/replenishment',
    fc.oneof(badName.map((s) => `?sku=${enc(s)}`), badName.map((l) => `?location=${enc(l)}`), fc.constantFrom('?sku=a&sku=b', '?location=')).map((q) => req('replenishment-bad-query', 'GET', `/v1/replenishment${q}`, hdr())),
  ),
  arm('GET /v1/replenishment', fc.constantFrom(...wrongWho, webWho).map((h) => req('replenishment-forbidden', 'GET', '/v1/replenishment', h))),
  // kits
  arm('PUT /v1/kits/{sku}', badKitBody.map((b) => req('kit-put-body', 'PUT', '/v1/kits/FZ-KIT2', hdr(), b))),
  arm('PUT /v1/kits/{sku}', badName.map((s) => req('kit-put-bad-sku', 'PUT', `/v1/kits/${enc(s)}`, hdr(), { components: [{ sku: 'FZ-1', qty: 1 }] }))),
  // kits of kits (either way round), a kit of itself, a kit over a SKU that has stock
  arm(
    'PUT /v1/kits/{sku}',
    fc
      .constantFrom<[string, unknown[]]>(
        ['FZ-KIT2', [{ sku: 'FZ-KIT', qty: 1 }]],
        ['FZ-KIT2', [{ sku: 'FZ-2', qty: 1 }, { sku: 'FZ-KIT', qty: 2 }]],
        ['FZ-KIT2', [{ sku: 'FZ-KIT2', qty: 1 }]],
        ['FZ-1', [{ sku: 'FZ-2', qty: 1 }]],
        ['FZ-2', [{ sku: 'FZ-X', qty: 1 }]],
        ['FZ-KIT', [{ sku: 'FZ-KIT', qty: 1 }]],
      )
      .map(([sku, components]) => req('kit-put-refused', 'PUT', `/v1/kits/${sku}`, hdr(), { components })),
  ),
  arm('PUT /v1/kits/{sku}', fc.constantFrom(...wrongWho, webWho).map((h) => req('kit-put-forbidden', 'PUT', '/v1/kits/FZ-KIT', h, { components: [{ sku: 'FZ-2', qty: 9 }] }))),
  arm('GET /v1/kits/{sku}', fc.oneof(badName, fc.constantFrom('FZ-1', 'FZ-NONE')).map((s) => req('kit-get-bad-or-unknown', 'GET', `/v1/kits/${enc(s)}`, hdr()))),
  arm('GET /v1/kits/{sku}', fc.constantFrom(...wrongWho).map((h) => req('kit-get-forbidden', 'GET', '/v1/kits/FZ-KIT', h))),
  arm('DELETE /v1/kits/{sku}', fc.oneof(badName, fc.constantFrom('FZ-1', 'FZ-NONE')).map((s) => req('kit-delete-bad-or-unknown', 'DELETE', `/v1/kits/${enc(s)}`, hdr()))),
  arm('DELETE /v1/kits/{sku}', fc.constantFrom(...wrongWho, webWho).map((h) => req('kit-delete-forbidden', 'DELETE', '/v1/kits/FZ-KIT', h))),
  // units
  arm('PUT /v1/units/{sku}', badUnitsBody.map((b) => req('units-put-body', 'PUT', '/v1/units/FZ-2', hdr(), b))),
  arm('PUT /v1/units/{sku}', badName.map((s) => req('units-put-bad-sku', 'PUT', `/v1/units/${enc(s)}`, hdr(), { units: [{ unit: 'box', factor: 6 }] }))),
  arm('PUT /v1/units/{sku}', fc.constantFrom(...wrongWho, webWho).map((h) => req('units-put-forbidden', 'PUT', '/v1/units/FZ-2', h, { units: [] }))),
  arm('GET /v1/units/{sku}', badName.map((s) => req('units-get-bad-sku', 'GET', `/v1/units/${enc(s)}`, hdr()))),
  arm('GET /v1/units/{sku}', fc.constantFrom(...wrongWho).map((h) => req('units-get-forbidden', 'GET', '/v1/units/FZ-2', h))),
  // the event feed: cursors that match the pattern but overflow xid8 / bigint, malformed cursors, bad limits, no read scope
  arm(
    'GET /v1/events',
    fc
      .oneof(
        fc.constantFrom('0.99999999999999999999', '0.9223372036854775808', '1.18446744073709551616').map((c) => `?after=${c}`), // id beyond bigint
        fc.constantFrom('99999999999999999999.0', '18446744073709551616.0', '18446744073709551615.9223372036854775808', '-1.0', '1', '1.2.3', '', 'x.y', '0.0 ', '1e3.0').map((c) => `?after=${enc(c)}`),
        fc.oneof(sqlish, unicode).map((c) => `?after=${enc(c)}`),
        fc.constantFrom('?limit=0', '?limit=1001', '?limit=1.5', '?limit=abc', '?limit=-1', '?limit=', '?after=0.0&after=1.1'),
      )
      .map((q) => req('events-bad-query', 'GET', `/v1/events${q}`, hdr())),
  ),
  arm('GET /v1/events', fc.constantFrom(...wrongWho).map((h) => req('events-forbidden', 'GET', '/v1/events', h))),
  // operations: /metrics refuses, the public endpoints answer (never a 5xx, nothing written)
  arm('GET /metrics', fc.tuple(fc.constantFrom(...wrongWho.slice(0, 2), webWho), junkQuery).map(([h, q]) => req('metrics-forbidden', 'GET', `/metrics${q}`, h))),
  ...['/healthz', '/readyz', '/openapi.json', '/docs', '/docs/api-reference.js'].map((p) =>
    arm(`GET ${p}`, fc.tuple(fc.constantFrom(...wrongWho, webWho, hdr()), junkQuery).map(([h, q]) => answered(req(`public${p.replace('/', '-')}`, 'GET', `${p}${q}`, h)))),
  ),
];

const allArms = [...arms, ...newArms];
const hostile: fc.Arbitrary<Req> = fc.oneof(...allArms.map((a) => a.arb));

async function send(r: Req): Promise<Outcome | 'client-refused'> {
  try {
    const o = await call(`http://127.0.0.1:${port}${r.path}`, { method: r.method, headers: r.headers, body: r.body, deadlineMs: DEADLINE_MS });
    // the HTTP client refused to send it (a header value it rejects): such bytes are sent raw below
    if (o.kind === 'connection-error' && o.message.startsWith('UND_ERR_INVALID_ARG')) return 'client-refused';
    return o;
  } catch (err) {
    if ((err as Error).name === 'ContractViolation') throw err; // an answer the document does not describe
    return 'client-refused'; // the HTTP client itself refused to send it (e.g. a header value it rejects)
  }
}

const rulesVersion = async () => {
  const o = await call(`http://127.0.0.1:${port}/v1/rules`, { headers: hdr(), deadlineMs: DEADLINE_MS });
  return o.kind === 'response' ? (o.json as { version: number }).version : -1;
};

/** Send one hostile request; it must be refused (4xx problem+json) — or, for a public endpoint, answered without a 5xx — and leave every table as it was. */
async function expectRefused(r: Req, before: string) {
  const o = await send(r);
  if (o === 'client-refused') {
    figures.clientRefused++;
    return;
  }
  figures.inputsTried++;
  figures.faultsInjected[r.kind] = (figures.faultsInjected[r.kind] ?? 0) + 1;
  const label = o.kind === 'response' ? `${o.status} ${(o.json as { code?: string } | undefined)?.code ?? ''}` : o.kind;
  figures.answers[r.answered ? `public ${label}` : label] = (figures.answers[r.answered ? `public ${label}` : label] ?? 0) + 1;
  const what = `${r.kind}: ${r.method} ${r.path.slice(0, 200)} ${(r.body ?? '').slice(0, 300)} → ${o.kind === 'response' ? `${o.status} ${o.text.slice(0, 300)}` : JSON.stringify(o)}`;
  expect(o.kind, what).toBe('response');
  if (o.kind !== 'response') return;
  if (r.answered) {
    // /readyz may say not-ready (503) if its 2 s database probe is slow on a loaded machine: an answer, not a failure
    const ok = (o.status >= 200 && o.status < 500) || (r.path.startsWith('/readyz') && o.status === 503 && (o.json as { status?: string })?.status === 'not-ready');
    expect(ok, what).toBe(true);
  } else {
    expect(o.status >= 400 && o.status < 500, what).toBe(true);
    expect(isProblem(o), what).toBe(true);
  }
  expect(await digestAll(sql), what).toBe(before);
}

it('every route the app serves has a fuzz arm, and every arm names a served route', () => {
  const served = servedRoutes(svc.app);
  const armed = new Set(allArms.map((a) => a.route));
  expect(served.filter((r) => !armed.has(r)), 'served routes without a fuzz arm').toEqual([]);
  expect([...armed].filter((r) => r !== 'none' && !served.includes(r)), 'fuzz arms for routes that are not served').toEqual([]);
  figures.routesCovered = served.length;
  figures.arms = allArms.length;
});

it('the digest covers every table, including supply, changes, short picks, catalog and outbox', async () => {
  const tables = (await digestAll(sql)).split('\n').map((l) => l.split(':')[0]);
  // (a reservation's lines are on its row: drizzle/0009)
  for (const t of ['locations', 'positions', 'reservations', 'allocations', 'channel_holds', 'ledger', 'idempotency_keys', 'supply', 'outbox', 'reservation_changes', 'short_picks', 'kit_components', 'sku_units'])
    expect(tables, t).toContain(`public.${t}`);
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  expect(tables.filter((t) => t?.startsWith('public.')).length).toBe(row?.n);
});

it('every fuzz arm, sampled deterministically (4 each): refused, the database unchanged', { timeout: scale(120_000, 600_000) }, async () => {
  const before = await digestAll(sql);
  for (const [i, a] of allArms.entries()) for (const r of fc.sample(a.arb, { numRuns: scale(4, 10), seed: SEED + i })) await expectRefused(r, before);
  expect(await digestAll(sql)).toBe(before);
});

it(`${RUNS} hostile requests across every endpoint: each a 4xx problem+json, the database byte-for-byte unchanged`, { timeout: scale(120_000, 900_000) }, async () => {
  const before = await digestAll(sql);
  const rules = await rulesVersion();
  const tried = figures.inputsTried;
  await fc.assert(
    fc.asyncProperty(hostile, (r) => expectRefused(r, before)),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  expect(await digestAll(sql)).toBe(before);
  expect(await rulesVersion()).toBe(rules);
  expect(figures.inputsTried - tried).toBeGreaterThan(RUNS * 0.9);
});

it('malformed HTTP on a raw socket: a 4xx problem+json, the database unchanged', async () => {
  const before = await digestAll(sql);
  const raw = [
    'GARBAGE\r\n\r\n',
    'POST /v1/reservations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}',
    'POST /v1/reservations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}',
    'POST /v1/reservations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    'GET /v1/atp?sku=FZ-1 HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n',
    'GET /v1/atp?sku=FZ-1 HTTP/1.1\r\nHost: x\r\nX-Evil: a\x00b\r\n\r\n',
    `GET /v1/atp?sku=FZ-1 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    'POST /v1/reservations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    // header values an HTTP client refuses to send: control characters, non-ASCII bytes in the key
    ...['k\x7f', 'tab\tkey', 'k\xe9y', 'k\x01'].map((k) => {
      const body = JSON.stringify({ orderRef: 'raw', channel: 'web', lines: [{ sku: 'FZ-2', qty: 1 }] });
      return `POST /v1/reservations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nIdempotency-Key: ${k}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    }),
  ];
  for (const text of raw) {
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      const s = connect(port, '127.0.0.1', () => s.write(Buffer.from(text, 'latin1')));
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.setTimeout(DEADLINE_MS, () => s.destroy());
    });
    figures.inputsTried++;
    figures.faultsInjected['raw-malformed-http'] = (figures.faultsInjected['raw-malformed-http'] ?? 0) + 1;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
    expect(status >= 400 && status < 500, `${JSON.stringify(text.slice(0, 80))} → ${answer.slice(0, 200)}`).toBe(true);
    expect(answer.toLowerCase(), answer.slice(0, 300)).toContain('content-type: application/problem+json');
    // answered by the HTTP parser before any route: checked as a problem document (schema, status member)
    const [head = '', ...rest] = answer.split('\r\n\r\n');
    const contentType = /\r\ncontent-type: *([^\r\n]*)/i.exec(head)?.[1] ?? null;
    (await contractOf(overHttp(`http://127.0.0.1:${port}`))).assert({ method: 'GET', path: '/(malformed HTTP, refused before routing)', status, contentType, text: rest.join('\r\n\r\n') });
  }
  expect(await digestAll(sql)).toBe(before);
});

it('hostile strings that are valid are stored and returned verbatim (no injection, no mangling); invariants hold', { timeout: scale(60_000, 600_000) }, async () => {
  const text = fc.oneof(sqlish, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), fc.constantFrom("Robert'); DROP TABLE reservations;--", '🙂🙃', 'e\u0301', '\u202eabc', '$$x$$', '\\x00')).filter((s) => s.length <= 128 && s.length > 0);
  const visibleKey = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 80 });
  await fc.assert(
    fc.asyncProperty(text, visibleKey, async (orderRef, key) => {
      const o = await send(req('valid-hostile', 'POST', '/v1/reservations', hdr({ 'idempotency-key': `vh-${key}` }), { ...validReserve, orderRef }));
      if (o === 'client-refused') return;
      figures.inputsTried++;
      expect(o.kind).toBe('response');
      if (o.kind !== 'response') return;
      const what = `${JSON.stringify(orderRef)} → ${o.status} ${o.text.slice(0, 300)}`;
      if (orderRef.includes('\u0000') || /[\ud800-\udfff]/.test(orderRef.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) {
        // NUL and lone surrogates cannot be stored as text: refused as bad input, never a 500
        expect(o.status, what).toBe(400);
        return;
      }
      // 422: a key already used (by an earlier run) with another body
      expect([201, 409, 422], what).toContain(o.status);
      if (o.status !== 201) return;
      figures.validHostileStored++;
      const id = (o.json as { id: string }).id;
      const got = await call(`http://127.0.0.1:${port}/v1/reservations/${id}`, { headers: hdr(), deadlineMs: DEADLINE_MS });
      expect(got.kind === 'response' && (got.json as { orderRef: string }).orderRef, what).toBe(orderRef);
      const [row] = await sql<{ order_ref: string; idempotency_key: string }[]>`select order_ref, idempotency_key from reservations where id = ${id}`;
      expect(row, what).toEqual({ order_ref: orderRef, idempotency_key: `vh-${key}` });
      // give the stock back so later runs still reserve
      const rel = await send(req('valid-hostile-release', 'POST', `/v1/reservations/${id}/release`, hdr({ 'idempotency-key': `vh-rel-${id}` }), {}));
      expect(rel !== 'client-refused' && rel.kind === 'response' && rel.status).toBe(200);
    }),
    { numRuns: scale(150, 1500), seed: SEED, endOnFailure: true },
  );
  const names = await Promise.all(
    ["O'Brien; DROP TABLE locations;--", 'Lager Nord 🙂', '"quoted"', '\\'].map((name) =>
      call(`http://127.0.0.1:${port}/v1/locations/DC1`, { method: 'PUT', headers: hdr(), body: JSON.stringify({ name }), deadlineMs: DEADLINE_MS }).then((o) => [name, o] as const),
    ),
  );
  for (const [name, o] of names) expect(o.kind === 'response' && o.status, name).toBe(200);
  const inv = await checkInvariants(db.url, { caller: 'key:' });
  figures.unitsOversold = inv.unitsOversold;
  expect(violations(inv), inv.details.join('\n')).toEqual({});
});

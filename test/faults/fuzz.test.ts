/**
 * Hostile input: schema-driven fuzzing (fast-check) of every endpoint with requests that must be
 * refused — malformed JSON, wrong types, huge / negative / fractional / overflowing quantities,
 * 201 and 10,000 lines, deep nesting, long and unicode SKUs, SQL metacharacters in every string,
 * duplicate JSON keys (the bad one last), unknown members, oversized and chunked bodies, bad
 * Idempotency-Key / Content-Type / Authorization / If-Match headers, bad path and query
 * parameters, valid requests the state refuses (over-commit counts, over-release) — plus raw
 * malformed HTTP on a socket.
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
import { createTestDatabase } from '../helpers/db.js';
import { digestAll } from './helpers/digest.js';
import { writeFigures } from './helpers/figures.js';
import { call, isProblem, type Outcome } from './helpers/http.js';
import { checkInvariants, violations } from './helpers/invariants.js';
import { scale, SEED } from './helpers/scale.js';
import { seedStock } from './helpers/seed.js';

const ADMIN = 'fuzz-admin-key-0123456789';
const WEB = 'fuzz-web-key-0123456789ab';
const MAX_BODY = 64 * 1024;
const DEADLINE_MS = 20_000;
const RUNS = scale(400, 4000);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let svc: Service;
let server: ReturnType<typeof serve>;
let port: number;
let sql: postgres.Sql;
let heldId: string;
const figures = { requestsUnderFault: 0, faultsInjected: {} as Record<string, number>, inputsTried: 0, acknowledgedLost: 0, unitsOversold: 0, answers: {} as Record<string, number>, clientRefused: 0, validHostileStored: 0 };

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_API_KEYS: `${ADMIN}=admin,${WEB}=channel:web`, ATP_MAX_BODY_BYTES: String(MAX_BODY) }),
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

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  kind: string;
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
const anyVerb = fc.constantFrom('release', 'commit', 'extend');

const hostile: fc.Arbitrary<Req> = fc.oneof(
  // POST /v1/reservations
  fc.tuple(badReserveBody, goodKey).map(([b, k]) => req('reserve-body', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), b)),
  fc.tuple(badJsonText, goodKey).map(([t, k]) => req('reserve-json-text', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), t)),
  badKey.map((k) => req('reserve-bad-key', 'POST', '/v1/reservations', hdr(k === '' ? {} : { 'idempotency-key': k }), validReserve)),
  fc.tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ''), goodKey).map(([ct, k]) =>
    req('reserve-content-type', 'POST', '/v1/reservations', { ...hdr({ 'idempotency-key': k }), 'content-type': ct }, validReserve),
  ),
  fc.tuple(fc.constantFrom('', 'Bearer', 'Bearer wrong-key-wrong-key-wrong', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${ADMIN}x`, `bearer  ${ADMIN.slice(1)}`), goodKey).map(([a, k]) =>
    req('reserve-auth', 'POST', '/v1/reservations', { 'content-type': 'application/json', 'idempotency-key': k, ...(a ? { authorization: a } : {}) }, validReserve),
  ),
  fc.tuple(fc.constantFrom('store', 'b2b', 'marketplace'), goodKey).map(([ch, k]) =>
    req('reserve-wrong-channel', 'POST', '/v1/reservations', { ...hdr({ 'idempotency-key': k }), authorization: `Bearer ${WEB}` }, { ...validReserve, channel: ch }),
  ),
  fc.tuple(fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 4 }), goodKey).map(([n, k]) =>
    req('reserve-oversized', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, orderRef: 'x'.repeat(n) }),
  ),
  goodKey.map((k) => req('reserve-10000-lines', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines: Array.from({ length: 10_000 }, () => validLine) })),
  // the same key as the setup reservation with another body
  fc.constant(req('reserve-key-reuse', 'POST', '/v1/reservations', hdr({ 'idempotency-key': 'fz-held' }), validReserve)),
  // more than is available: refused by the state, not the schema
  goodKey.map((k) => req('reserve-insufficient', 'POST', '/v1/reservations', hdr({ 'idempotency-key': k }), { ...validReserve, lines: [{ sku: 'FZ-1', qty: 1_000_000 }] })),
  // inventory
  fc.tuple(badName, fc.constantFrom('DC1', 'DC2')).map(([s, l]) => req('inventory-bad-sku', 'PUT', `/v1/inventory/${enc(s)}/${l}`, hdr(), { onHand: 1 })),
  fc.tuple(badName).map(([l]) => req('inventory-bad-location', 'PUT', `/v1/inventory/FZ-1/${enc(l)}`, hdr(), { onHand: 1 })),
  fc.oneof(
    badQty.filter((v) => !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 1_000_000_000)).map((onHand) => ({ onHand })),
    fc.constantFrom<unknown>({}, { onHand: 1, extra: 1 }, { onHand: 1, reason: '' }, { onHand: 1, reason: 'r'.repeat(201) }, { onHand: 1, qualityHold: -1 }, { onHand: 1_000_000_001 }),
    notAnObject,
  ).map((b) => req('inventory-bad-body', 'PUT', '/v1/inventory/FZ-1/DC1', hdr(), b)),
  fc.integer({ min: 0, max: 29 }).map((n) => req('inventory-overcommit', 'PUT', '/v1/inventory/FZ-1/DC1', hdr(), { onHand: n })),
  fc.constantFrom('%E0%A4%A', '%', '%00', '%2F..%2F', '..', '%FF').map((p) => req('inventory-bad-escape', 'PUT', `/v1/inventory/${p}/DC1`, hdr(), { onHand: 1 })),
  fc.constant(req('inventory-forbidden', 'PUT', '/v1/inventory/FZ-1/DC1', { ...hdr(), authorization: `Bearer ${WEB}` }, { onHand: 999 })),
  badName.map((s) => req('inventory-get-bad', 'GET', `/v1/inventory/${enc(s)}/DC1`, hdr())),
  // locations
  fc.tuple(badName).map(([id]) => req('location-bad-id', 'PUT', `/v1/locations/${enc(id)}`, hdr(), { name: 'x' })),
  fc.constantFrom<unknown>({ rank: -1 }, { rank: 1.5 }, { rank: '1' }, { name: '' }, { name: 'n'.repeat(201) }, { id: 'x' }, [], null).map((b) => req('location-bad-body', 'PUT', '/v1/locations/DCX', hdr(), b)),
  // ATP
  badName.map((s) => req('atp-bad-sku', 'GET', `/v1/atp?sku=${enc(s)}`, hdr())),
  badName.map((c) => req('atp-bad-channel', 'GET', `/v1/atp?sku=FZ-1&channel=${enc(c)}`, hdr())),
  fc.constantFrom('/v1/atp', `/v1/atp?${Array.from({ length: 101 }, (_, i) => `sku=S${i}`).join('&')}`, '/v1/atp?sku=', '/v1/atp?sku[]=x').map((p) => req('atp-bad-query', 'GET', p, hdr())),
  fc.constant(req('atp-forbidden', 'GET', '/v1/atp?sku=FZ-1&channel=store', { ...hdr(), authorization: `Bearer ${WEB}` })),
  // reservations by id
  badName.map((id) => req('reservation-bad-id', 'GET', `/v1/reservations/${enc(id)}`, hdr())),
  fc.uuid().map((id) => req('reservation-unknown', 'GET', `/v1/reservations/${id}`, hdr())),
  fc.tuple(anyVerb, fc.uuid(), goodKey).map(([v, id, k]) => req('verb-unknown-id', 'POST', `/v1/reservations/${id}/${v}`, hdr({ 'idempotency-key': k }), v === 'extend' ? { holdSeconds: 60 } : {})),
  fc.tuple(anyVerb, badName, goodKey).map(([v, id, k]) => req('verb-bad-id', 'POST', `/v1/reservations/${enc(id)}/${v}`, hdr({ 'idempotency-key': k }), {})),
  fc.tuple(anyVerb, goodKey, fc.oneof(badQty.map((qty) => ({ lines: [{ sku: 'FZ-1', qty }] })), badName.map((sku) => ({ lines: [{ sku, qty: 1 }] })), fc.constantFrom<unknown>({ lines: [] }, { lines: 'all' }, { x: 1 }, [], 'x'))).map(
    ([v, k, b]) => req('verb-bad-body', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), v === 'extend' ? { holdSeconds: (b as { lines?: unknown }).lines ?? b } : b),
  ),
  fc.tuple(fc.constantFrom('release', 'commit'), goodKey, fc.integer({ min: 31, max: 1_000_000 })).map(([v, k, qty]) =>
    req('verb-exceeds-held', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), { lines: [{ sku: 'FZ-1', qty }] }),
  ),
  fc.tuple(anyVerb, goodKey).map(([v, k]) => req('verb-no-oms-scope', 'POST', `/v1/reservations/${heldId}/${v}`, { ...hdr({ 'idempotency-key': k }), authorization: `Bearer ${WEB}` }, v === 'extend' ? { holdSeconds: 60 } : {})),
  fc.tuple(anyVerb, badKey).map(([v, k]) => req('verb-bad-key', 'POST', `/v1/reservations/${heldId}/${v}`, hdr(k === '' ? {} : { 'idempotency-key': k }), v === 'extend' ? { holdSeconds: 60 } : {})),
  fc.tuple(anyVerb, badJsonText, goodKey).map(([v, t, k]) => req('verb-json-text', 'POST', `/v1/reservations/${heldId}/${v}`, hdr({ 'idempotency-key': k }), t)),
  // rules (held in memory: compared separately)
  fc.oneof(
    fc.constantFrom<unknown>({ defaultTier: 0 }, { defaultTier: 10 }, { defaultTier: 1.5 }, { protect: { '0': 1 } }, { protect: { '1': -1 } }, { protect: { '1': { share: 1.5 } } }, { channels: { web: { tier: 'x' } } }, { channels: { web: { maxShare: 2 } } }, { x: 1 }),
    badName.map((c) => ({ channels: { [c]: { tier: 1 } } })),
    notAnObject,
  ).map((b) => req('rules-bad-body', 'PUT', '/v1/rules', hdr(), b)),
  fc.constantFrom('abc', '"x"', 'W/"y"', '1,2', '"1234567890"').map((m) => req('rules-bad-if-match', 'PUT', '/v1/rules', hdr({ 'if-match': m }), {})),
  fc.constant(req('rules-stale-if-match', 'PUT', '/v1/rules', hdr({ 'if-match': '"999"' }), {})),
  fc.constant(req('rules-forbidden', 'PUT', '/v1/rules', { ...hdr(), authorization: `Bearer ${WEB}` }, {})),
  // no such route or method
  fc.tuple(fc.constantFrom('DELETE', 'PATCH', 'POST', 'PUT'), fc.constantFrom('/v1/reservations/' + '00000000-0000-0000-0000-000000000000', '/v1/atp', '/v1/locations', '/v1/nope', '/v2/reservations')).map(([m, p]) =>
    req('no-route', m, p, hdr({ 'idempotency-key': 'fz-noroute' }), m === 'DELETE' ? undefined : {}),
  ),
);

async function send(r: Req): Promise<Outcome | 'client-refused'> {
  try {
    const o = await call(`http://127.0.0.1:${port}${r.path}`, { method: r.method, headers: r.headers, body: r.body, deadlineMs: DEADLINE_MS });
    // the HTTP client refused to send it (a header value it rejects): such bytes are sent raw below
    if (o.kind === 'connection-error' && o.message.startsWith('UND_ERR_INVALID_ARG')) return 'client-refused';
    return o;
  } catch {
    return 'client-refused'; // the HTTP client itself refused to send it (e.g. a header value it rejects)
  }
}

const rulesVersion = async () => {
  const o = await call(`http://127.0.0.1:${port}/v1/rules`, { headers: hdr(), deadlineMs: DEADLINE_MS });
  return o.kind === 'response' ? (o.json as { version: number }).version : -1;
};

it(`${RUNS} hostile requests across every endpoint: each a 4xx problem+json, the database byte-for-byte unchanged`, { timeout: scale(120_000, 900_000) }, async () => {
  const before = await digestAll(sql);
  const rules = await rulesVersion();
  await fc.assert(
    fc.asyncProperty(hostile, async (r) => {
      const o = await send(r);
      if (o === 'client-refused') {
        figures.clientRefused++;
        return;
      }
      figures.inputsTried++;
      figures.faultsInjected[r.kind] = (figures.faultsInjected[r.kind] ?? 0) + 1;
      const label = o.kind === 'response' ? `${o.status} ${(o.json as { code?: string } | undefined)?.code ?? ''}` : o.kind;
      figures.answers[label] = (figures.answers[label] ?? 0) + 1;
      const what = `${r.kind}: ${r.method} ${r.path.slice(0, 200)} ${(r.body ?? '').slice(0, 300)} → ${o.kind === 'response' ? `${o.status} ${o.text.slice(0, 300)}` : JSON.stringify(o)}`;
      expect(o.kind, what).toBe('response');
      if (o.kind !== 'response') return;
      expect(o.status >= 400 && o.status < 500, what).toBe(true);
      expect(isProblem(o), what).toBe(true);
      expect(await digestAll(sql), what).toBe(before);
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  expect(await digestAll(sql)).toBe(before);
  expect(await rulesVersion()).toBe(rules);
  expect(figures.inputsTried).toBeGreaterThan(RUNS * 0.9);
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

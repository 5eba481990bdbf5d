/**
 * /openapi.json is a valid OpenAPI 3.1 document (checked against the official 3.1 JSON schema by
 * @seriousme/openapi-schema-validator) and lists every route the app serves: the list of routes
 * comes from `app.routes`, so a route added later without a document entry fails this test.
 * /docs serves the interactive reference pointed at /openapi.json. The test client's contract
 * check (helpers/contract.ts) can fail: an unnamed field, an undeclared status or content type, a
 * problem whose status disagrees with the HTTP status are each refused with their JSON pointer.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_PATHS } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, type Client } from './helpers/api.js';
import { Contract, type OpenApiDocument } from './helpers/contract.js';
import { createTestDatabase } from './helpers/db.js';
import { servedRoutes } from './helpers/routes.js';

let svc: Service;
let api: Client;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '2' }), { sweeper: false });
  api = client(svc.app);
});
afterAll(async () => {
  await svc?.stop();
  await db?.drop();
});

it('/openapi.json validates as OpenAPI 3.1', async () => {
  const res = await api.call('GET', '/openapi.json');
  expect(res.status).toBe(200);
  const doc = res.body as Record<string, unknown>;
  expect(doc.openapi).toMatch(/^3\.1\./);
  const validator = new Validator();
  const result = await validator.validate(doc);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe('3.1');
});

it('the validator rejects a broken document (the check can fail)', async () => {
  const doc = (await api.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { responses?: unknown }>> };
  const first = Object.values(doc.paths)[0]!;
  Object.values(first)[0]!.responses = 'not-an-object';
  expect((await new Validator().validate(doc)).valid).toBe(false);
});

it('/openapi.json lists every route the app serves, and nothing else', async () => {
  const doc = (await api.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths)
    .flatMap(([p, ops]) => Object.keys(ops).filter((m) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(m)).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  const served = servedRoutes(svc.app);
  expect(served.length).toBeGreaterThanOrEqual(15);
  expect(served).toContain('POST /v1/reservations');
  expect(served).toContain('GET /metrics');
  expect(documented).toEqual(served);
});

it('every documented operation outside the public paths (/healthz, /readyz, /docs and its script, /openapi.json) requires the bearer key', async () => {
  const doc = (await api.call('GET', '/openapi.json')).body as {
    security: unknown[];
    components: { securitySchemes: Record<string, unknown> };
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
  expect(doc.security).toEqual([{ bearer: [] }]);
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const op of Object.values(ops)) {
      if (PUBLIC_PATHS.has(p)) expect(op.security).toEqual([]);
      else expect(op.security).toBeUndefined(); // inherits the document-level bearer requirement
    }
  }
});

it('/docs serves the API reference over /openapi.json', async () => {
  const res = await api.call('GET', '/docs');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/html/);
  const html = res.body as string;
  expect(html).toContain('/openapi.json');
  expect(html.toLowerCase()).toContain('scalar');
});

describe('the contract check of the test client can fail', () => {
  let contract: Contract;
  let reservation: Record<string, any>;
  let atp: Record<string, any>;
  const answer = (method: string, path: string, status: number, body: unknown, contentType = 'application/json') => ({
    method,
    path,
    status,
    contentType,
    text: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const check = (a: ReturnType<typeof answer>) => contract.violations(a).join('\n');

  beforeAll(async () => {
    contract = new Contract((await api.call('GET', '/openapi.json')).body as OpenApiDocument);
    expect((await api.setStock('CT-1', 'DC1', 5)).status).toBe(200);
    const r = await api.reserve({ orderRef: 'ct', channel: 'web', lines: [{ sku: 'CT-1', qty: 2 }] });
    expect(r.status).toBe(201);
    reservation = r.body;
    atp = (await api.atp(['CT-1'], 'web')).body;
  });

  it('a served answer passes as it is', () => {
    expect(check(answer('POST', '/v1/reservations', 201, reservation))).toBe('');
    expect(check(answer('GET', '/v1/atp?sku=CT-1&channel=web', 200, atp))).toBe('');
  });

  it('a field the document does not name fails, with its JSON pointer (closed objects, also inside allOf)', () => {
    const extra = structuredClone(reservation);
    extra.lines[0].allocations[0].bin = 'A-12';
    expect(check(answer('POST', '/v1/reservations', 201, extra))).toBe('POST /v1/reservations → 201: /lines/0/allocations/0/bin is not in the document (closed object)');
    const top = { ...reservation, etag: 'x' };
    expect(check(answer('GET', `/v1/reservations/${reservation.id}`, 200, top))).toContain('GET /v1/reservations/{id} → 200: /etag is not in the document');
    const loc = structuredClone(atp);
    loc.skus[0].locations[0].aisle = 3; // Position + {rank, byDate} as allOf: closed as a whole
    expect(check(answer('GET', '/v1/atp?sku=CT-1', 200, loc))).toBe('GET /v1/atp → 200: /skus/0/locations/0/aisle is not in the document (closed object)');
  });

  it('a missing or mistyped field fails', () => {
    const { status: _s, ...noStatus } = reservation;
    expect(check(answer('POST', '/v1/reservations', 201, noStatus))).toContain("/ must have required property 'status'");
    expect(check(answer('POST', '/v1/reservations', 201, { ...reservation, rulesVersion: '1' }))).toContain('/rulesVersion must be integer');
  });

  it('an undeclared status, a wrong content type, a body where none is declared fail', () => {
    expect(check(answer('GET', '/v1/rules', 418, {}))).toMatch(/^GET \/v1\/rules → 418: status 418 is not declared for this operation/);
    expect(check(answer('POST', '/v1/reservations', 201, reservation, 'text/plain'))).toMatch(/content type text\/plain is not declared/);
    expect(check(answer('DELETE', '/v1/kits/K', 204, 'x', 'text/plain'))).toMatch(/a body where the document declares none/);
    expect(check(answer('GET', '/v1/nowhere', 200, {}))).toMatch(/not a documented operation/);
  });

  it('a problem is checked against the problem schema and its status against the HTTP status', () => {
    const p = { type: 'https://atp.example.com/problems/not-found', title: 'Not found', status: 404, code: 'not-found' };
    expect(check(answer('GET', `/v1/reservations/${reservation.id}`, 404, p, 'application/problem+json'))).toBe('');
    expect(check(answer('GET', `/v1/reservations/${reservation.id}`, 404, p, 'application/json'))).toMatch(/content type application\/json is not declared/);
    expect(check(answer('GET', `/v1/reservations/${reservation.id}`, 404, { ...p, status: 400 }, 'application/problem+json'))).toBe(
      'GET /v1/reservations/{id} → 404: /status is 400, the HTTP status is 404',
    );
    const { code: _c, ...noCode } = p;
    expect(check(answer('GET', '/v1/nowhere', 404, noCode, 'application/problem+json'))).toContain("must have required property 'code'");
  });

  it('the client throws on a mismatch, naming the operation, the status and the pointer', async () => {
    const lying = { request: async (path: string, init?: RequestInit) => {
      const res = await svc.app.request(path, init);
      if (!path.startsWith('/v1/reservations/')) return res;
      const body = { ...((await res.json()) as object), secret: 1 };
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    } };
    await expect(client(lying).get(reservation.id)).rejects.toThrow('GET /v1/reservations/{id} → 200: /secret is not in the document (closed object)');
  });
});

/**
 * /openapi.json is a valid OpenAPI 3.1 document (checked against the official 3.1 JSON schema by
 * @seriousme/openapi-schema-validator) and lists every route the app serves: the list of routes
 * comes from `app.routes`, so a route added later without a document entry fails this test.
 * /docs serves the interactive reference pointed at /openapi.json.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { createTestDatabase } from './helpers/db.js';
import { servedRoutes } from './helpers/routes.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '2' }), { sweeper: false });
});
afterAll(async () => {
  await svc?.stop();
  await db?.drop();
});

it('/openapi.json validates as OpenAPI 3.1', async () => {
  const res = await svc.app.request('/openapi.json');
  expect(res.status).toBe(200);
  const doc = (await res.json()) as Record<string, unknown>;
  expect(doc.openapi).toMatch(/^3\.1\./);
  const validator = new Validator();
  const result = await validator.validate(doc);
  expect(result.errors ?? []).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe('3.1');
});

it('the validator rejects a broken document (the check can fail)', async () => {
  const doc = (await (await svc.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, { responses?: unknown }>> };
  const first = Object.values(doc.paths)[0]!;
  Object.values(first)[0]!.responses = 'not-an-object';
  expect((await new Validator().validate(doc)).valid).toBe(false);
});

it('/openapi.json lists every route the app serves, and nothing else', async () => {
  const doc = (await (await svc.app.request('/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths)
    .flatMap(([p, ops]) => Object.keys(ops).filter((m) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(m)).map((m) => `${m.toUpperCase()} ${p}`))
    .sort();
  const served = servedRoutes(svc.app);
  expect(served.length).toBeGreaterThanOrEqual(15);
  expect(served).toContain('POST /v1/reservations');
  expect(served).toContain('GET /metrics');
  expect(documented).toEqual(served);
});

it('every documented operation outside /healthz, /readyz, /docs and /openapi.json requires the bearer key', async () => {
  const doc = (await (await svc.app.request('/openapi.json')).json()) as {
    security: unknown[];
    components: { securitySchemes: Record<string, unknown> };
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
  expect(doc.security).toEqual([{ bearer: [] }]);
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const op of Object.values(ops)) {
      if (['/healthz', '/readyz', '/docs', '/openapi.json'].includes(p)) expect(op.security).toEqual([]);
      else expect(op.security).toBeUndefined(); // inherits the document-level bearer requirement
    }
  }
});

it('/docs serves the API reference over /openapi.json', async () => {
  const res = await svc.app.request('/docs');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/html/);
  const html = await res.text();
  expect(html).toContain('/openapi.json');
  expect(html.toLowerCase()).toContain('scalar');
});

/**
 * The lean front (issue 14): with no span exporter configured — the default — serving requests
 * makes no span at all (no recording span, no tracer call, no traced database proxy), while the
 * metrics still count every request and a log line written inside a request still carries the
 * caller's trace id from `traceparent`. Fails if any per-request path starts a span again.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/service.js';
import { createTelemetry, type Telemetry } from '../src/telemetry/index.js';
import { client, type Client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let telemetry: Telemetry;
let api: Client;
let spansStarted = 0;
const logLines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  telemetry = createTelemetry({});
  // count every span the service asks the tracer for, whichever way it asks
  const tracer = telemetry.tracer as unknown as Record<'startSpan' | 'startActiveSpan', (...a: unknown[]) => unknown>;
  for (const name of ['startSpan', 'startActiveSpan'] as const) {
    const original = tracer[name]!.bind(tracer);
    tracer[name] = (...a: unknown[]) => {
      spansStarted++;
      return original(...a);
    };
  }
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'debug' }), { sweeper: false, telemetry, logger: createLogger('debug', sink) });
  api = client(svc.app);
});
afterAll(async () => {
  await svc?.stop();
  await telemetry?.shutdown();
  await db?.drop();
});

it('serves reservations, refusals and reads without making a span, and still counts them', async () => {
  expect(telemetry.tracing).toBe(false);
  expect((await api.call('PUT', '/v1/locations/DC1', { name: 'DC', rank: 1 })).status).toBe(200);
  expect((await api.setStock('LEAN-1', 'DC1', 2)).status).toBe(200);
  spansStarted = 0;
  const answers = await Promise.all([1, 2, 3].map(() => api.reserve({ orderRef: 'o', channel: 'web', lines: [{ sku: 'LEAN-1', qty: 1 }] })));
  expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 409]);
  expect((await api.atp(['LEAN-1'], 'web')).status).toBe(200);
  expect(spansStarted).toBe(0);
  const text = await telemetry.metricsText();
  expect(text).toMatch(/atp_reservations_total\{outcome="reserved",channel="web"[^}]*\} 2\b/);
  expect(text).toMatch(/atp_reservations_total\{outcome="insufficient-stock",channel="web"[^}]*\} 1\b/);
  expect(text).toMatch(/http_server_request_duration_count\{http_request_method="POST",http_response_status_code="201",http_route="\/v1\/reservations"[^}]*\} 2\b/);
  expect(text).toMatch(/http_server_request_duration_count\{http_request_method="POST",http_response_status_code="409",http_route="\/v1\/reservations"[^}]*\} 1\b/);
});

it("a log line inside a request carries the caller's trace id without any span being made", async () => {
  spansStarted = 0;
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  logLines.length = 0;
  const r = await api.call('GET', '/v1/reservations/00000000-0000-4000-8000-000000000000', undefined, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
  expect(r.status).toBe(404);
  expect(spansStarted).toBe(0);
  const inRequest = logLines.map((l) => JSON.parse(l) as { trace_id?: string }).filter((l) => l.trace_id);
  expect(inRequest.length).toBeGreaterThan(0);
  expect(inRequest.every((l) => l.trace_id === traceId)).toBe(true);
});

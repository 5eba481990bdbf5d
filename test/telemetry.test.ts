/**
 * Telemetry, end to end through the HTTP app on a real Postgres (and Redis for the client spans):
 * - GET /metrics exposes every named series after traffic, with the values that traffic implies
 *   (reservations by outcome and channel, latency by route, batch sizes, retries, lock timeouts,
 *   outbox lag, expiry sweeps, rules version and age, allocator depth);
 * - the trace of one reservation (joined to the caller's traceparent) is
 *   server span → atp.reserve → atp.batch (atp.batch.size) → atp.allocation.transaction,
 *   and the log lines of that request carry its trace id;
 * - under a concurrent burst every request is accounted for by exactly one batch: each batch
 *   span's size equals the number of reserve spans attached to it (as parent or by link).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createService, type Service } from '../src/service.js';
import { createTelemetry, type Telemetry } from '../src/telemetry/index.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let telemetry: Telemetry;
const exporter = new InMemorySpanExporter();
const logLines: string[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  telemetry = createTelemetry({ spanExporter: exporter });
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'debug', ATP_DB_POOL_MAX: '10' }), {
    sweeper: false,
    telemetry,
    logger: createLogger('debug', sink),
  });
});
afterAll(async () => {
  await svc?.stop();
  await telemetry?.shutdown();
  await db?.drop();
});

const json = { 'content-type': 'application/json' };
const reserve = (key: string, sku: string, qty: number, extra: Record<string, string> = {}) =>
  client(svc.app).raw('/v1/reservations', {
    method: 'POST',
    headers: { ...json, 'idempotency-key': key, ...extra },
    body: JSON.stringify({ orderRef: `o-${key}`, channel: 'web', lines: [{ sku, qty }] }),
  });

/** value of one Prometheus sample line `name{labels} value` whose labels include all `want` */
function sample(text: string, name: string, want: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(want).every(([k, v]) => labels[k] === v)) return Number(m[4]);
  }
  return undefined;
}

it('GET /metrics exposes the named series after traffic', async () => {
  expect((await client(svc.app).raw('/v1/inventory/MET-1/DC1', { method: 'PUT', headers: json, body: JSON.stringify({ onHand: 3 }) })).status).toBe(200);
  expect((await reserve('m1', 'MET-1', 2)).status).toBe(201);
  expect((await reserve('m1', 'MET-1', 2)).status).toBe(201); // replay
  expect((await reserve('m2', 'MET-1', 5)).status).toBe(409); // insufficient
  expect((await client(svc.app).raw('/v1/rules', { method: 'PUT', headers: json, body: JSON.stringify({ channels: { web: { tier: 1 } } }) })).status).toBe(200);
  await svc.sweep();

  const res = await client(svc.app).raw('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const text = await res.text();

  expect(sample(text, 'atp_reservations_total', { outcome: 'reserved', channel: 'web' })).toBe(1);
  expect(sample(text, 'atp_reservations_total', { outcome: 'replayed', channel: 'web' })).toBe(1);
  expect(sample(text, 'atp_reservations_total', { outcome: 'insufficient-stock', channel: 'web' })).toBe(1);
  expect(sample(text, 'http_server_request_duration_count', { http_route: '/v1/reservations', http_response_status_code: '201', http_request_method: 'POST' })).toBe(2);
  expect(sample(text, 'http_server_request_duration_count', { http_route: '/v1/reservations', http_response_status_code: '409' })).toBe(1);
  expect(sample(text, 'http_server_request_duration_bucket', { http_route: '/v1/reservations', http_response_status_code: '201', le: '+Inf' })).toBe(2);
  // the replay is answered from the stored response inside a batch too: 3 requests, 3 batched
  expect(sample(text, 'atp_batch_size_sum')).toBe(3);
  expect(sample(text, 'atp_batch_size_count')).toBe(3);
  expect(sample(text, 'atp_batch_wait_count')).toBe(3);
  expect(sample(text, 'atp_batch_duration_count')).toBe(3);
  expect(sample(text, 'atp_db_tx_retries_total')).toBeGreaterThanOrEqual(0);
  expect(sample(text, 'atp_db_lock_timeouts_total')).toBe(0);
  expect(sample(text, 'atp_outbox_lag')).toBeGreaterThan(0); // nothing publishes the outbox in this test
  expect(sample(text, 'atp_expiry_sweeps_total', { result: 'ok' })).toBe(1);
  expect(sample(text, 'atp_expiry_sweeps_total', { result: 'error' })).toBe(0);
  expect(sample(text, 'atp_expiry_expired_total')).toBe(0);
  // without Redis the rules store is Postgres (re-read every ATP_RULES_POLL_MS: the age is that of the last read)
  expect(sample(text, 'atp_rules_version', { source: 'postgres' })).toBe(1);
  expect(sample(text, 'atp_rules_age', { source: 'postgres' })).toBeGreaterThanOrEqual(0);
  expect(sample(text, 'atp_rules_fresh', { source: 'postgres' })).toBe(1);
  expect(sample(text, 'atp_allocator_queued')).toBe(0);
  expect(sample(text, 'atp_allocator_running')).toBe(0);
});

const byTrace = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

it('a trace for one reservation shows the server span, the batch with its size, and the transaction', async () => {
  expect((await client(svc.app).raw('/v1/inventory/TR-1/DC1', { method: 'PUT', headers: json, body: JSON.stringify({ onHand: 5 }) })).status).toBe(200);
  const traceId = randomBytes(16).toString('hex');
  const callerSpan = randomBytes(8).toString('hex');
  const res = await reserve('t1', 'TR-1', 1, { traceparent: `00-${traceId}-${callerSpan}-01` });
  expect(res.status).toBe(201);
  const requestId = res.headers.get('x-request-id');

  const spans = byTrace(traceId);
  const server = spans.find((s) => s.kind === SpanKind.SERVER);
  expect(server?.name).toBe('POST /v1/reservations');
  expect(parentOf(server!)).toBe(callerSpan);
  expect(server!.attributes).toMatchObject({ 'http.route': '/v1/reservations', 'http.response.status_code': 201, 'http.request.method': 'POST', 'atp.request_id': requestId });

  const reserveSpan = spans.find((s) => s.name === 'atp.reserve');
  expect(parentOf(reserveSpan!)).toBe(server!.spanContext().spanId);
  expect(reserveSpan!.attributes).toMatchObject({ 'atp.channel': 'web', 'atp.outcome': 'reserved', 'atp.batch.size': 1 });

  const batch = spans.find((s) => s.name === 'atp.batch');
  expect(parentOf(batch!)).toBe(reserveSpan!.spanContext().spanId);
  expect(batch!.attributes['atp.batch.size']).toBe(1);

  const tx = spans.filter((s) => s.name === 'atp.allocation.transaction');
  expect(tx.length).toBeGreaterThanOrEqual(1);
  for (const t of tx) expect(parentOf(t)).toBe(batch!.spanContext().spanId);

  // the request's log line joins the trace; no line of this request has another trace id
  const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.requestId === requestId);
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(l.trace_id).toBe(traceId);
});

it('under a burst, every reservation is carried by exactly one batch whose size counts it', async () => {
  expect((await client(svc.app).raw('/v1/inventory/TR-2/DC1', { method: 'PUT', headers: json, body: JSON.stringify({ onHand: 1000 }) })).status).toBe(200);
  exporter.reset();
  const n = 60;
  const statuses = await Promise.all(Array.from({ length: n }, (_, i) => Promise.resolve(reserve(`b-${i}`, 'TR-2', 1)).then((r) => r.status)));
  expect(statuses.every((s) => s === 201)).toBe(true);

  const spans = exporter.getFinishedSpans();
  const reserves = spans.filter((s) => s.name === 'atp.reserve');
  const batches = spans.filter((s) => s.name === 'atp.batch');
  expect(reserves).toHaveLength(n);
  const carried = new Map<string, number>();
  for (const r of reserves) {
    const id = r.spanContext().spanId;
    const mine = batches.filter((b) => parentOf(b) === id || b.links.some((l) => l.context.spanId === id));
    expect(mine).toHaveLength(1);
    const b = mine[0]!;
    expect(r.attributes['atp.batch.size']).toBe(b.attributes['atp.batch.size']);
    carried.set(b.spanContext().spanId, (carried.get(b.spanContext().spanId) ?? 0) + 1);
    // a request that did not start the batch links to it
    if (parentOf(b) !== id) expect(r.links.some((l) => l.context.spanId === b.spanContext().spanId)).toBe(true);
  }
  for (const b of batches) expect(carried.get(b.spanContext().spanId)).toBe(b.attributes['atp.batch.size']);
  expect(batches.reduce((a, b) => a + Number(b.attributes['atp.batch.size']), 0)).toBe(n);
  // each batch writes in a transaction (locked path) or in one guarded statement (reserve-guarded.ts)
  const writes = ['atp.allocation.transaction', 'atp.allocation.statement'];
  for (const b of batches) expect(spans.some((s) => writes.includes(s.name) && parentOf(s) === b.spanContext().spanId)).toBe(true);
  expect(spans.filter((s) => s.name === 'atp.allocation.statement').length).toBeGreaterThan(0);
});

it('Redis commands made inside a traced operation become client spans (command name only)', async () => {
  const redis = telemetry.instrumentRedis(new Redis('redis://127.0.0.1:6379', { lazyConnect: true }));
  await redis.connect();
  const key = `atp-telemetry-test:${randomBytes(6).toString('hex')}`;
  try {
    exporter.reset();
    await redis.set(key, 'secret-value'); // no active span: no span
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    await telemetry.span('test.op', {}, async () => {
      await redis.get(key);
    });
    const spans = exporter.getFinishedSpans();
    const op = spans.find((s) => s.name === 'test.op')!;
    const get = spans.find((s) => s.name === 'redis get');
    expect(get?.kind).toBe(SpanKind.CLIENT);
    expect(parentOf(get!)).toBe(op.spanContext().spanId);
    expect(JSON.stringify(get!.attributes)).not.toContain(key);
    expect(JSON.stringify(get!.attributes)).not.toContain('secret-value');
  } finally {
    await redis.del(key);
    redis.disconnect();
  }
});

it('with an OTLP endpoint, traces and metrics are pushed to it as OTLP/HTTP JSON (flushed on shutdown)', async () => {
  const received: { path: string; type: string; body: string }[] = [];
  const collector = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const port = (collector.address() as AddressInfo).port;
  try {
    const t = createTelemetry({ otlpEndpoint: `http://127.0.0.1:${port}/`, metricExportIntervalMs: 3_600_000 });
    await t.span('otlp.probe', { 'probe.n': 1 }, async () => {});
    t.recordSweep('ok', 2);
    await t.shutdown();
    const traces = received.find((r) => r.path === '/v1/traces');
    const metrics = received.find((r) => r.path === '/v1/metrics');
    expect(traces?.type).toMatch(/application\/json/);
    expect(traces!.body).toContain('otlp.probe');
    expect(metrics!.body).toContain('atp.expiry.sweeps');
    expect(metrics!.body).toContain('atp.expiry.expired');
  } finally {
    collector.close();
  }
});

/**
 * OpenTelemetry traces and metrics for the service, as one injectable object.
 *
 * Traces: a server span per HTTP request (named `METHOD /route/{template}`), an `atp.reserve` span
 * per reservation request, an `atp.batch` span for the batch it rode in (attribute
 * `atp.batch.size`; parented to the first request of the batch and linked to every other one),
 * an `atp.allocation.transaction` span per attempt of the allocation transaction, and client
 * spans for Redis commands made inside a traced operation (`instrumentRedis`).
 * Metrics: see METRICS below (docs/OPERATIONS.md lists them with their Prometheus names).
 * Export: Prometheus text is always available (`metricsText()`, served at GET /metrics); OTLP/HTTP
 * export of traces and metrics only when an endpoint is configured. Tests pass their own span
 * exporter (InMemorySpanExporter) and read what was recorded.
 *
 * Cost: spans are made only when something exports them (`tracing`). Without an exporter no span
 * object is created on any path — per request the service records its metrics and nothing else
 * (a caller's `traceparent` is still made the active context, so log lines join the caller's
 * trace). With an exporter the SDK's sampler decides (`OTEL_TRACES_SAMPLER`, default
 * parentbased_always_on); a span that is not sampled is not recording, and the per-request work
 * around it (batch links, context switches) is skipped too.
 *
 * Context propagation uses one process-wide AsyncLocalStorage context manager (registered once);
 * tracers and meters are never taken from the global API, so several Telemetry instances (tests)
 * do not interfere. Nothing here ever records keys, headers or request bodies.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  type Meter,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Db } from './db/client.js';
import { txStats } from './db/tx.js';
import type { DomainError } from './domain/errors.js';
import type { RulesStatus } from './rules/store.js';

/** The metric names (OTel names; Prometheus replaces dots with underscores and adds unit suffixes). */
export const METRICS = {
  reservations: 'atp.reservations',
  requestDuration: 'http.server.request.duration',
  batchSize: 'atp.batch.size',
  batchWait: 'atp.batch.wait',
  batchDuration: 'atp.batch.duration',
  txRetries: 'atp.db.tx.retries',
  lockTimeouts: 'atp.db.lock_timeouts',
  outboxLag: 'atp.outbox.lag',
  sweeps: 'atp.expiry.sweeps',
  expired: 'atp.expiry.expired',
  rulesVersion: 'atp.rules.version',
  rulesAge: 'atp.rules.age',
  rulesFresh: 'atp.rules.fresh',
  queueDepth: 'atp.allocator.queued',
  batchesRunning: 'atp.allocator.running',
  guardedBatches: 'atp.allocator.guarded',
} as const;

/** What the allocator reports to the metrics (services/reservations/allocator.ts). */
export interface AllocatorFigures {
  queued: number;
  running: number;
  /** guarded statements written, and batches decided under locks by reason (reserve-guarded.ts) */
  guarded?: Record<string, number>;
}

export interface TelemetryOptions {
  serviceName?: string;
  serviceVersion?: string;
  /** OTLP/HTTP base endpoint (`http://collector:4318`); unset → no OTLP export */
  otlpEndpoint?: string | undefined;
  /** OTLP metric push interval */
  metricExportIntervalMs?: number;
  /** an extra span exporter, exported span by span as spans end (tests: InMemorySpanExporter) */
  spanExporter?: SpanExporter;
}

type Awaitable<T> = T | Promise<T>;
interface PendingReserve {
  span: Span;
  ctx: Context;
}

/** Process-wide AsyncLocalStorage context manager (the API allows exactly one). */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(ctx, fn, undefined, ...a)) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}
let contextManagerRegistered = false;
function ensureContextManager() {
  if (contextManagerRegistered) return;
  contextManagerRegistered = true;
  context.setGlobalContextManager(new AlsContextManager());
}

/** W3C `traceparent` → a remote parent context (version 00 only; anything else is ignored). */
export function parentFromTraceparent(header: string | undefined): Context {
  const m = header ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true });
}

const MAX_CHANNEL_LABELS = 200;

export class Telemetry {
  readonly tracer: Tracer;
  /** true when a span exporter is configured: only then are spans made */
  readonly tracing: boolean;
  readonly meter: Meter;
  private readonly tracerProvider: NodeTracerProvider;
  private readonly meterProvider: MeterProvider;
  private readonly prometheus: PrometheusExporter;
  private readonly serializer = new PrometheusSerializer();
  private readonly pending = new WeakMap<object, PendingReserve>();
  private readonly channels = new Set<string>();
  private outboxLagSource: (() => Awaitable<number | undefined>) | undefined;
  private rulesSource: (() => RulesStatus) | undefined;
  private allocatorSource: (() => AllocatorFigures) | undefined;

  private readonly reservations;
  private readonly requestDuration;
  private readonly batchSize;
  private readonly batchWait;
  private readonly batchDuration;
  private readonly sweeps;
  private readonly expired;

  constructor(opts: TelemetryOptions = {}) {
    ensureContextManager();
    const resource = resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName ?? 'atp-service',
      [ATTR_SERVICE_VERSION]: opts.serviceVersion ?? '0.1.0',
    });
    const base = opts.otlpEndpoint?.replace(/\/+$/, '');
    const spanProcessors: SpanProcessor[] = [];
    if (opts.spanExporter) spanProcessors.push(new SimpleSpanProcessor(opts.spanExporter));
    if (base) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` })));
    this.tracing = spanProcessors.length > 0;
    // nothing exports spans: sample nothing (the few call sites below do not even start them)
    this.tracerProvider = new NodeTracerProvider({ resource, spanProcessors, ...(this.tracing ? {} : { sampler: new AlwaysOffSampler() }) });
    this.tracer = this.tracerProvider.getTracer('atp-service');

    this.prometheus = new PrometheusExporter({ preventServerStart: true });
    const readers: IMetricReader[] = [this.prometheus];
    if (base) {
      readers.push(
        new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }), exportIntervalMillis: opts.metricExportIntervalMs ?? 60_000 }),
      );
    }
    this.meterProvider = new MeterProvider({ resource, readers });
    this.meter = this.meterProvider.getMeter('atp-service');
    const m = this.meter;

    this.reservations = m.createCounter(METRICS.reservations, { description: 'Reservation requests by outcome (reserved, replayed, or the problem code) and channel' });
    this.requestDuration = m.createHistogram(METRICS.requestDuration, {
      description: 'HTTP request latency by method, route template and status',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
    });
    this.batchSize = m.createHistogram(METRICS.batchSize, {
      description: 'Reservation requests per allocation transaction (natural batching)',
      advice: { explicitBucketBoundaries: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
    });
    this.batchWait = m.createHistogram(METRICS.batchWait, {
      description: 'Time the oldest request of a batch waited for its SKU lane (in-process lock wait)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] },
    });
    this.batchDuration = m.createHistogram(METRICS.batchDuration, {
      description: 'Duration of one allocation batch (transaction including row-lock waits and retries)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] },
    });
    this.sweeps = m.createCounter(METRICS.sweeps, { description: 'Hold-expiry sweep passes by result (ok, error)' });
    this.expired = m.createCounter(METRICS.expired, { description: 'Holds released by the expiry sweeper' });
    // export these series from the start (a counter that never moved is still a series)
    this.sweeps.add(0, { result: 'ok' });
    this.sweeps.add(0, { result: 'error' });
    this.expired.add(0);

    m.createObservableCounter(METRICS.txRetries, { description: 'Transactions retried after a serialization failure, deadlock or lost optimistic check' }).addCallback((o) =>
      o.observe(txStats.retries),
    );
    m.createObservableCounter(METRICS.lockTimeouts, { description: 'Transactions failed by lock_timeout (SQLSTATE 55P03)' }).addCallback((o) =>
      o.observe(txStats.lockTimeouts),
    );
    m.createObservableGauge(METRICS.outboxLag, { description: 'Age of the oldest unpublished outbox event (0 when none)', unit: 's' }).addCallback(async (o) => {
      const lag = await this.outboxLagSeconds();
      if (lag !== undefined) o.observe(lag);
    });
    m.createObservableGauge(METRICS.rulesVersion, { description: 'Version of the channel-priority rules in force' }).addCallback((o) => {
      const s = this.rulesSource?.();
      if (s) o.observe(s.version, { source: s.source });
    });
    m.createObservableGauge(METRICS.rulesAge, { description: 'Time since the rules in memory were last confirmed against their store', unit: 's' }).addCallback((o) => {
      const s = this.rulesSource?.();
      if (s) o.observe(s.ageSeconds, { source: s.source });
    });
    m.createObservableGauge(METRICS.rulesFresh, { description: '1 when the rules are confirmed fresh, 0 when serving the last good copy' }).addCallback((o) => {
      const s = this.rulesSource?.();
      if (s) o.observe(s.state === 'fresh' ? 1 : 0, { source: s.source });
    });
    m.createObservableGauge(METRICS.queueDepth, { description: 'Reservation requests waiting for an allocation batch' }).addCallback((o) => {
      const d = this.allocatorSource?.();
      if (d) o.observe(d.queued);
    });
    m.createObservableGauge(METRICS.batchesRunning, { description: 'Allocation batches in flight' }).addCallback((o) => {
      const d = this.allocatorSource?.();
      if (d) o.observe(d.running);
    });
    m.createObservableCounter(METRICS.guardedBatches, {
      description: 'Allocation batches by path: outcome=statements (one guarded statement) or why the batch was decided under locks instead',
    }).addCallback((o) => {
      const d = this.allocatorSource?.();
      for (const [outcome, n] of Object.entries(d?.guarded ?? {})) o.observe(n, { outcome });
    });
  }

  // ---- sources the service (or the lead) feeds -------------------------------------------

  /** Where outbox lag comes from (seconds; undefined = unknown). Used by the gauge and /readyz. */
  setOutboxLagSource(fn: (() => Awaitable<number | undefined>) | undefined): void {
    this.outboxLagSource = fn;
  }
  setRulesSource(fn: () => RulesStatus): void {
    this.rulesSource = fn;
  }
  setAllocatorSource(fn: () => AllocatorFigures): void {
    this.allocatorSource = fn;
  }
  async outboxLagSeconds(): Promise<number | undefined> {
    return this.outboxLagSource ? await this.outboxLagSource() : undefined;
  }

  // ---- metrics recorders ---------------------------------------------------------------------

  /** The allocator's `onBatch` hook. */
  readonly onBatch = (info: { size: number; waitedMs: number; ms: number }): void => {
    this.batchSize.record(info.size);
    this.batchWait.record(info.waitedMs / 1000);
    this.batchDuration.record(info.ms / 1000);
  };

  recordSweep(result: 'ok' | 'error', expired: number): void {
    this.sweeps.add(1, { result });
    if (expired > 0) this.expired.add(expired);
  }

  /** A bounded label for a caller-chosen channel name (cardinality guard). */
  private channelLabel(channel: string): string {
    if (this.channels.has(channel)) return channel;
    if (this.channels.size >= MAX_CHANNEL_LABELS) return 'other';
    this.channels.add(channel);
    return channel;
  }

  /** Prometheus text exposition of every metric (the body of GET /metrics). */
  async metricsText(): Promise<string> {
    // collect() reports a failing observable callback in `errors` and leaves its series out; the
    // rest is served (test/telemetry.metrics-errors.test.ts)
    const { resourceMetrics } = await this.prometheus.collect();
    return this.serializer.serialize(resourceMetrics);
  }

  // ---- tracing ----------------------------------------------------------------------------------

  /** Hono middleware: one SERVER span and one latency observation per request. Outermost. */
  httpMiddleware(): MiddlewareHandler {
    if (!this.tracing) return this.untracedHttpMiddleware();
    return async (c, next) => {
      const method = c.req.method;
      const parent = parentFromTraceparent(c.req.header('traceparent'));
      const span = this.tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': c.req.path } }, parent);
      const started = performance.now();
      try {
        await context.with(trace.setSpan(parent, span), next);
      } finally {
        const status = c.res.status;
        const route = [...matchedRoutes(c)].reverse().find((r) => r.method !== 'ALL')?.path;
        const attrs: Attributes = { 'http.request.method': method, 'http.response.status_code': status };
        if (route) {
          attrs['http.route'] = route;
          span.updateName(`${method} ${route}`);
        }
        const requestId = (c.get as (k: string) => unknown)('requestId');
        span.setAttributes({ ...attrs, ...(typeof requestId === 'string' ? { 'atp.request_id': requestId } : {}) });
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        this.requestDuration.record((performance.now() - started) / 1000, attrs);
      }
    };
  }

  /** Without an exporter: the latency metric, and the caller's trace as the active context for logs. */
  private untracedHttpMiddleware(): MiddlewareHandler {
    return async (c, next) => {
      const started = performance.now();
      try {
        const traceparent = c.req.header('traceparent');
        if (traceparent) await context.with(parentFromTraceparent(traceparent), next);
        else await next();
      } finally {
        const route = [...matchedRoutes(c)].reverse().find((r) => r.method !== 'ALL')?.path;
        const attrs: Attributes = { 'http.request.method': c.req.method, 'http.response.status_code': c.res.status };
        if (route) attrs['http.route'] = route;
        this.requestDuration.record((performance.now() - started) / 1000, attrs);
      }
    };
  }

  /**
   * Around one reservation request (call site: the route): an `atp.reserve` span, remembered by
   * command object so the batch that carries it can link to it; records the outcome metric.
   */
  async reserve<R extends { ok: true; result: { replayed?: boolean } } | { ok: false; error: DomainError }>(cmd: { channel: string }, fn: () => Promise<R>): Promise<R> {
    if (!this.tracing || !trace.getSpan(context.active())?.isRecording()) return this.countReserve(cmd.channel, fn);
    const span = this.tracer.startSpan('atp.reserve', { attributes: { 'atp.channel': cmd.channel } });
    const ctx = trace.setSpan(context.active(), span);
    this.pending.set(cmd, { span, ctx });
    const channel = this.channelLabel(cmd.channel);
    try {
      const r = await context.with(ctx, fn);
      const outcome = r.ok ? (r.result.replayed ? 'replayed' : 'reserved') : r.error.code;
      span.setAttribute('atp.outcome', outcome);
      this.reservations.add(1, { outcome, channel });
      return r;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const outcome = typeof code === 'string' && /^[a-z-]+$/.test(code) ? code : 'error';
      span.setAttribute('atp.outcome', outcome);
      span.setStatus({ code: SpanStatusCode.ERROR });
      this.reservations.add(1, { outcome, channel });
      throw err;
    } finally {
      this.pending.delete(cmd);
      span.end();
    }
  }

  /** The outcome metric of one reservation request, without a span. */
  private async countReserve<R extends { ok: true; result: { replayed?: boolean } } | { ok: false; error: DomainError }>(channel: string, fn: () => Promise<R>): Promise<R> {
    const label = this.channelLabel(channel);
    let outcome = 'error';
    try {
      const r = await fn();
      outcome = r.ok ? (r.result.replayed ? 'replayed' : 'reserved') : r.error.code;
      return r;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /^[a-z-]+$/.test(code)) outcome = code;
      throw err;
    } finally {
      this.reservations.add(1, { outcome, channel: label });
    }
  }

  /**
   * The allocator's `wrapBatch` hook: an `atp.batch` span (attribute `atp.batch.size`) for one
   * allocation batch, child of the first request's `atp.reserve` span and linked to the others;
   * each request's span gets the batch size and a link back. `run` executes inside the batch span.
   */
  readonly wrapBatch = async <T>(batch: readonly object[], run: () => Promise<T>): Promise<T> => {
    const recs = batch.map((cmd) => this.pending.get(cmd));
    const first = recs.find((r) => r !== undefined);
    if (!first) return run(); // no request of this batch is traced
    const parent = first?.ctx ?? ROOT_CONTEXT;
    const links = recs.filter((r): r is PendingReserve => r !== undefined && r !== first).map((r) => ({ context: r.span.spanContext() }));
    const span = this.tracer.startSpan('atp.batch', { attributes: { 'atp.batch.size': batch.length }, links }, parent);
    for (const r of recs) {
      if (!r) continue;
      r.span.setAttribute('atp.batch.size', batch.length);
      if (r !== first) r.span.addLink({ context: span.spanContext() });
    }
    try {
      return await context.with(trace.setSpan(parent, span), run);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
      throw err;
    } finally {
      span.end();
    }
  };

  /** A drizzle Db whose `transaction()` runs inside a span named `spanName` (one per attempt). */
  traceDb(db: Db, spanName = 'db.transaction', statementSpanName = 'db.statement'): Db {
    if (!this.tracing) return db;
    const tracer = this.tracer;
    return new Proxy(db, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        // a transaction, or a statement run on its own (autocommit: the guarded batch, a replay lookup)
        if ((prop === 'transaction' || prop === 'execute') && typeof value === 'function') {
          const name = prop === 'transaction' ? spanName : statementSpanName;
          return (fn: unknown, config?: unknown) =>
            tracer.startActiveSpan(name, { attributes: { 'db.system.name': 'postgresql' } }, async (span) => {
              try {
                return await (value as (f: unknown, c?: unknown) => Promise<unknown>).call(target, fn, config);
              } catch (err) {
                const code = (err as { code?: unknown; cause?: { code?: unknown } }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
                if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
                span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
                throw err;
              } finally {
                span.end();
              }
            });
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /**
   * Client spans for the commands of an ioredis client, only when a traced operation is active
   * (background polling makes no root spans). Records the command name only, never arguments.
   */
  instrumentRedis<C extends { sendCommand: (command: never, ...rest: never[]) => unknown }>(client: C): C {
    if (!this.tracing) return client;
    const tracer = this.tracer;
    const original = client.sendCommand;
    client.sendCommand = function (this: C, command: { name: string; promise: Promise<unknown> }, ...rest: unknown[]) {
      if (!trace.getSpan(context.active())) return (original as (...a: unknown[]) => unknown).call(this, command, ...rest);
      const span = tracer.startSpan(`redis ${command.name}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis', 'db.operation.name': command.name } });
      const out = context.with(trace.setSpan(context.active(), span), () => (original as (...a: unknown[]) => unknown).call(this, command, ...rest));
      command.promise.then(
        () => span.end(),
        (err: unknown) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
          span.end();
        },
      );
      return out;
    } as unknown as C['sendCommand'];
    return client;
  }

  /** Run `fn` in an internal span (root when nothing is active). */
  async span<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
    return this.tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  /** Flush and stop exporters (graceful shutdown). */
  async shutdown(): Promise<void> {
    await Promise.allSettled([this.tracerProvider.shutdown(), this.meterProvider.shutdown()]);
  }
}

export function createTelemetry(opts: TelemetryOptions = {}): Telemetry {
  return new Telemetry(opts);
}

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
 *
 * This module is the one object the service wires (service.ts, app.ts, http/context.ts); each
 * job is its own module: context.ts (context manager, traceparent), tracing.ts (tracer provider,
 * traced Db, Redis client spans), metrics.ts (instruments, sources, Prometheus/OTLP export),
 * http.ts (the request middleware), reserve.ts (the reservation and batch spans, outcome metric).
 */
import type { Attributes, Meter, Span, Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { MiddlewareHandler } from 'hono';
import type { Db } from '../db/client.js';
import type { RulesStatus } from '../rules/store.js';
import { ensureContextManager } from './context.js';
import { httpMiddleware } from './http.js';
import { type AllocatorFigures, type Awaitable, Metrics } from './metrics.js';
import { type ReserveOutcome, ReserveTracing } from './reserve.js';
import { createTracing, inSpan, instrumentRedis, traceDb } from './tracing.js';

export { parentFromTraceparent } from './context.js';
export { type AllocatorFigures, METRICS } from './metrics.js';

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

export class Telemetry {
  readonly tracer: Tracer;
  /** true when a span exporter is configured: only then are spans made */
  readonly tracing: boolean;
  readonly meter: Meter;
  private readonly tracerProvider: NodeTracerProvider;
  private readonly metrics: Metrics;
  private readonly reserves: ReserveTracing;
  /** The allocator's `onBatch` hook. */
  readonly onBatch: Metrics['onBatch'];
  /**
   * The allocator's `wrapBatch` hook: an `atp.batch` span for one allocation batch, child of the
   * first request's `atp.reserve` span and linked to the others (telemetry/reserve.ts).
   */
  readonly wrapBatch: ReserveTracing['wrapBatch'];

  constructor(opts: TelemetryOptions = {}) {
    ensureContextManager();
    const resource = resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName ?? 'atp-service',
      [ATTR_SERVICE_VERSION]: opts.serviceVersion ?? '0.1.0',
    });
    const base = opts.otlpEndpoint?.replace(/\/+$/, '');
    const t = createTracing(resource, base, opts.spanExporter);
    this.tracerProvider = t.provider;
    this.tracer = t.tracer;
    this.tracing = t.tracing;
    this.metrics = new Metrics(resource, base, opts.metricExportIntervalMs);
    this.meter = this.metrics.meter;
    this.reserves = new ReserveTracing(this.tracing ? this.tracer : undefined, this.metrics);
    this.onBatch = this.metrics.onBatch;
    this.wrapBatch = this.reserves.wrapBatch;
  }

  // ---- sources the service (or the lead) feeds -------------------------------------------

  /** Where outbox lag comes from (seconds; undefined = unknown). Used by the gauge and /readyz. */
  setOutboxLagSource(fn: (() => Awaitable<number | undefined>) | undefined): void {
    this.metrics.setOutboxLagSource(fn);
  }
  setRulesSource(fn: () => RulesStatus): void {
    this.metrics.setRulesSource(fn);
  }
  setAllocatorSource(fn: () => AllocatorFigures): void {
    this.metrics.setAllocatorSource(fn);
  }
  outboxLagSeconds(): Promise<number | undefined> {
    return this.metrics.outboxLagSeconds();
  }

  // ---- metrics -------------------------------------------------------------------------------

  recordSweep(result: 'ok' | 'error', expired: number): void {
    this.metrics.recordSweep(result, expired);
  }

  /** Prometheus text exposition of every metric (the body of GET /metrics). */
  metricsText(): Promise<string> {
    return this.metrics.metricsText();
  }

  // ---- tracing ----------------------------------------------------------------------------------

  /** Hono middleware: one SERVER span and one latency observation per request. Outermost. */
  httpMiddleware(): MiddlewareHandler {
    return httpMiddleware(this.tracing ? this.tracer : undefined, this.metrics);
  }

  /**
   * Around one reservation request (call site: the route): an `atp.reserve` span, remembered by
   * command object so the batch that carries it can link to it; records the outcome metric.
   */
  reserve<R extends ReserveOutcome>(cmd: { channel: string }, fn: () => Promise<R>): Promise<R> {
    return this.reserves.reserve(cmd, fn);
  }

  /** A drizzle Db whose `transaction()` runs inside a span named `spanName` (one per attempt). */
  traceDb(db: Db, spanName = 'db.transaction', statementSpanName = 'db.statement'): Db {
    return this.tracing ? traceDb(this.tracer, db, spanName, statementSpanName) : db;
  }

  /**
   * Client spans for the commands of an ioredis client, only when a traced operation is active
   * (background polling makes no root spans). Records the command name only, never arguments.
   */
  instrumentRedis<C extends { sendCommand: (command: never, ...rest: never[]) => unknown }>(client: C): C {
    return this.tracing ? instrumentRedis(this.tracer, client) : client;
  }

  /** Run `fn` in an internal span (root when nothing is active). */
  span<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
    return inSpan(this.tracer, name, attributes, fn);
  }

  /** Flush and stop exporters (graceful shutdown). */
  async shutdown(): Promise<void> {
    await Promise.allSettled([this.tracerProvider.shutdown(), this.metrics.shutdown()]);
  }
}

export function createTelemetry(opts: TelemetryOptions = {}): Telemetry {
  return new Telemetry(opts);
}

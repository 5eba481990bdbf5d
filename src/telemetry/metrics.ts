/**
 * The service's metric instruments and their export: every counter, histogram and observable
 * gauge (names in METRICS; docs/OPERATIONS.md lists them with their Prometheus names), the sources
 * the observable ones read (outbox lag, rules status, allocator figures), Prometheus text for
 * GET /metrics and OTLP/HTTP push when an endpoint is configured.
 */
import type { Meter } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { Resource } from '@opentelemetry/resources';
import { type IMetricReader, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { txStats } from '../db/tx.js';
import type { RulesStatus } from '../rules/store.js';

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

export type Awaitable<T> = T | Promise<T>;

const MAX_CHANNEL_LABELS = 200;

export class Metrics {
  readonly meter: Meter;
  private readonly meterProvider: MeterProvider;
  private readonly prometheus: PrometheusExporter;
  private readonly serializer = new PrometheusSerializer();
  private readonly channels = new Set<string>();
  private outboxLagSource: (() => Awaitable<number | undefined>) | undefined;
  private rulesSource: (() => RulesStatus) | undefined;
  private allocatorSource: (() => AllocatorFigures) | undefined;

  /** reservation requests by outcome and (bounded) channel: recorded by telemetry/reserve.ts */
  readonly reservations;
  /** HTTP latency: recorded by telemetry/http.ts */
  readonly requestDuration;
  private readonly batchSize;
  private readonly batchWait;
  private readonly batchDuration;
  private readonly sweeps;
  private readonly expired;

  /** `otlpBase`: the OTLP/HTTP base endpoint without a trailing slash (unset: Prometheus only). */
  constructor(resource: Resource, otlpBase: string | undefined, exportIntervalMs: number | undefined) {
    this.prometheus = new PrometheusExporter({ preventServerStart: true });
    const readers: IMetricReader[] = [this.prometheus];
    if (otlpBase) {
      readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${otlpBase}/v1/metrics` }), exportIntervalMillis: exportIntervalMs ?? 60_000 }));
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

  // ---- recorders -----------------------------------------------------------------------------

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
  channelLabel(channel: string): string {
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

  shutdown(): Promise<void> {
    return this.meterProvider.shutdown();
  }
}

/**
 * Builds a running service from a config: database (migrated), rules store, allocator, the expiry
 * sweeper, and the HTTP app. `stop()` is the graceful path: stop the background loops, let every
 * queued and in-flight batch commit, then close the pools.
 */
import type { Config } from './config.js';
import { redisTarget } from './redis-connection.js';
import { type Clock, nowSql } from './db/clock.js';
import { createApp } from './app.js';
import { openDatabase, type Database } from './db/client.js';
import { migrateDatabase } from './db/migrate.js';
import { KeyRing } from './http/auth.js';
import { AvailabilityPublisher } from './events/availability.js';
import { lagSql, OutboxRelay } from './events/relay.js';
import { purgeOutbox } from './events/retention.js';
import { createLogger, type Logger, safeError } from './logger.js';
import { RedisRulesStore } from './rules/redis-store.js';
import { PostgresRulesStore, type RulesStore } from './rules/store.js';
import { Allocator } from './services/reservations/allocator.js';
import { Catalog } from './services/catalog/catalog.js';
import { Reader } from './reads/reader.js';
import { expireDue, purgeIdempotency } from './services/reservations/expiry.js';
import { sql } from 'drizzle-orm';
import { query } from './db/client.js';
import type { Lifecycle } from './http/context.js';
import { createTelemetry, type Telemetry } from './telemetry/index.js';

export interface Service {
  app: ReturnType<typeof createApp>;
  database: Database;
  rules: RulesStore;
  allocator: Allocator;
  catalog: Catalog;
  /** the read path: ATP, promise, the sold-out check (one shared statement per in-flight interval) */
  reads: Reader;
  keys: KeyRing;
  logger: Logger;
  /** publishes the outbox to the Redis Stream (REDIS_URL set) */
  relay?: OutboxRelay | undefined;
  /** writes availability.changed events (src/events/availability.ts); always there, started per `ServiceOptions.availability` */
  availability: AvailabilityPublisher;
  telemetry: Telemetry;
  /** `draining = true` when graceful shutdown starts (readiness goes 503) */
  lifecycle: Lifecycle;
  /** run one expiry pass now (tests); returns how many holds expired */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger?: Logger;
  /** start the periodic expiry sweeper (default true) */
  sweeper?: boolean;
  rules?: RulesStore;
  /** start the outbox relay when REDIS_URL is set (default true) */
  relay?: boolean;
  /**
   * start the availability publisher's loop (default false: src/index.ts turns it on;
   * ATP_AVAILABILITY_INTERVAL_MS=0 keeps it off). Tests leave it off and run
   * `availability.publishOnce()` themselves, so no background writer races their counts.
   */
  availability?: boolean;
  /** tracing and metrics (tests inject one with an in-memory span exporter); default from config.
   * An injected instance is not shut down by stop(). */
  telemetry?: Telemetry;
  /**
   * Tests only: the source of "now" (db/clock.ts). Every writer binds its instant into the same
   * statements in place of Postgres now() (the rules' updatedAt included); the catalog and
   * sold-out memory TTLs and the rules' staleness follow it too.
   * Unset (production): Postgres time.
   */
  clock?: Clock;
  /** observe every allocation batch (size, queue wait, duration) — benchmarks and diagnostics */
  onBatch?: (info: { lane: string; size: number; waitedMs: number; ms: number }) => void;
}

export async function createService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const keys = new KeyRing(config.ATP_API_KEYS);
  if (keys.open && config.NODE_ENV === 'production') throw new Error('ATP_API_KEYS is empty: refusing to run open in production');
  const database = await openDatabase(config, {
    onPoolReplaced: ({ generation, reason }) =>
      logger.warn({ generation, reason }, 'database pools replaced: a connection was on a read-only node; new statements open fresh connections (target_session_attrs checked)'),
  });
  try {
    await migrateDatabase(database, config.DATABASE_URL);
  } catch (err) {
    // release the pool (and the embedded data directory's lock) before reporting
    await database.close().catch(() => {});
    throw err;
  }
  const redis = redisTarget(config);
  const rules =
    opts.rules ??
    (redis
      ? new RedisRulesStore({ db: database.db, url: redis, key: config.ATP_RULES_KEY, pollMs: config.ATP_RULES_POLL_MS, logger, clock: opts.clock })
      : new PostgresRulesStore({ db: database.db, pollMs: database.mode === 'pglite' ? 0 : config.ATP_RULES_POLL_MS, logger, clock: opts.clock }));
  try {
    await rules.start();
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
  const telemetry =
    opts.telemetry ?? createTelemetry({ serviceName: config.OTEL_SERVICE_NAME, otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, metricExportIntervalMs: config.OTEL_METRIC_EXPORT_INTERVAL });
  const allocator = new Allocator(telemetry.traceDb(database.db, 'atp.allocation.transaction', 'atp.allocation.statement'), rules, {
    maxBatch: config.ATP_BATCH_MAX,
    maxQueue: config.ATP_QUEUE_MAX,
    concurrency: Math.max(1, Math.min(config.ATP_BATCH_CONCURRENCY, database.concurrency)),
    retries: config.ATP_TX_RETRIES,
    laneConcurrency: config.ATP_LANE_CONCURRENCY,
    mergeLanes: config.ATP_MERGE_LANES,
    budgetMs: config.ATP_QUEUE_BUDGET_MS,
    soldOutTtlMs: config.ATP_SOLDOUT_TTL_MS,
    onBatch: (info) => {
      telemetry.onBatch(info);
      opts.onBatch?.(info);
    },
    wrapBatch: telemetry.wrapBatch,
    clock: opts.clock,
  });
  const relay =
    redis && opts.relay !== false
      ? new OutboxRelay({ db: database.db, redis, stream: config.ATP_EVENTS_STREAM, maxLen: config.ATP_EVENTS_MAXLEN, logger, clock: opts.clock })
      : undefined;
  relay?.start();
  const availability = new AvailabilityPublisher({
    db: database.db,
    rules,
    intervalMs: config.ATP_AVAILABILITY_INTERVAL_MS,
    keyChannels: () => keys.channels(),
    logger,
    clock: opts.clock,
  });
  if (opts.availability === true && config.ATP_AVAILABILITY_INTERVAL_MS > 0) availability.start();
  const catalog = new Catalog(database.db, config.ATP_CATALOG_TTL_MS, opts.clock);
  const reads = new Reader({ exec: database.readStatement, rules, config, concurrency: database.readConcurrency, clock: opts.clock });
  telemetry.setRulesSource(() => rules.status());
  telemetry.setAllocatorSource(() => ({ ...allocator.depth, guarded: allocator.guardedStats }));
  // default outbox lag: age of the oldest unpublished event (rows above the relay's cursor)
  telemetry.setOutboxLagSource(async () => {
    const [row] = await query<{ age: number | null }>(database.db, lagSql(opts.clock));
    return Math.max(0, row?.age ?? 0);
  });
  const lifecycle: Lifecycle = { draining: false };
  const app = createApp({ config, database, rules, allocator, catalog, reads, keys, logger, telemetry, lifecycle, relay, clock: opts.clock });

  const sweep = async () => {
    let total = 0;
    try {
      for (;;) {
        const n = await expireDue(database.db, 200, opts.clock);
        // released holds are stock again: the sold-out memory must not keep refusing it
        if (n > 0) allocator.invalidate();
        total += n;
        if (n < 200) break;
      }
    } catch (err) {
      telemetry.recordSweep('error', total);
      throw err;
    }
    telemetry.recordSweep('ok', total);
    return total;
  };
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> = Promise.resolve();
  let lastPurge = 0;
  if (opts.sweeper !== false) {
    timer = setInterval(() => {
      sweeping = (async () => {
        try {
          const n = await sweep();
          if (n > 0) logger.info({ expired: n }, 'expired holds released');
          if (Date.now() - lastPurge > 3600_000) {
            lastPurge = Date.now();
            await purgeIdempotency(database.db, config.ATP_IDEMPOTENCY_TTL_HOURS, opts.clock);
            // without Redis nothing is ever marked published: the feed's window is the retention period
            await purgeOutbox(database.db, config.ATP_OUTBOX_RETENTION_HOURS, { includeUnpublished: !redis, clock: opts.clock });
          }
        } catch (err) {
          logger.warn({ err: safeError(err).message }, 'expiry sweep failed; will retry');
        }
      })();
    }, config.ATP_SWEEP_INTERVAL_MS);
    timer.unref();
  }

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (timer) clearInterval(timer);
      await sweeping;
      await allocator.drain();
      await availability.stop();
      await reads.drain();
      await relay?.stop();
      await rules.stop();
      // the last metric export still reads the database (outbox lag): flush it before the pools close
      if (!opts.telemetry) await telemetry.shutdown();
      await database.close();
    })());

  return { app, database, rules, allocator, catalog, reads, keys, logger, telemetry, lifecycle, relay, availability, sweep, stop };
}

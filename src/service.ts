/**
 * Builds a running service from a config: database (migrated), rules store, allocator, the expiry
 * sweeper, and the HTTP app. `stop()` is the graceful path: stop the background loops, let every
 * queued and in-flight batch commit, then close the pools.
 */
import type { Config } from './config.js';
import { createApp } from './app.js';
import { openDatabase, type Database } from './db/client.js';
import { migrateDatabase } from './db/migrate.js';
import { KeyRing } from './http/auth.js';
import { createLogger, type Logger } from './logger.js';
import { MemoryRulesStore, type RulesStore } from './rules/store.js';
import { Allocator } from './services/allocator.js';
import { expireDue, purgeIdempotency } from './services/expiry.js';

export interface Service {
  app: ReturnType<typeof createApp>;
  database: Database;
  rules: RulesStore;
  allocator: Allocator;
  keys: KeyRing;
  logger: Logger;
  /** run one expiry pass now (tests); returns how many holds expired */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger?: Logger;
  /** start the periodic expiry sweeper (default true) */
  sweeper?: boolean;
  rules?: RulesStore;
  /** observe every allocation batch (size, queue wait, duration) — benchmarks and diagnostics */
  onBatch?: (info: { lane: string; size: number; waitedMs: number; ms: number }) => void;
}

export async function createService(config: Config, opts: ServiceOptions = {}): Promise<Service> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  const keys = new KeyRing(config.ATP_API_KEYS);
  if (keys.open && config.NODE_ENV === 'production') throw new Error('ATP_API_KEYS is empty: refusing to run open in production');
  const database = await openDatabase(config);
  await migrateDatabase(database, config.DATABASE_URL);
  const rules = opts.rules ?? new MemoryRulesStore();
  await rules.start();
  const allocator = new Allocator(database.db, rules, {
    maxBatch: config.ATP_BATCH_MAX,
    maxQueue: config.ATP_QUEUE_MAX,
    concurrency: Math.max(1, Math.min(config.ATP_BATCH_CONCURRENCY, database.concurrency)),
    retries: config.ATP_TX_RETRIES,
    laneConcurrency: config.ATP_LANE_CONCURRENCY,
    budgetMs: config.ATP_QUEUE_BUDGET_MS,
    soldOutTtlMs: config.ATP_SOLDOUT_TTL_MS,
    onBatch: opts.onBatch,
  });
  const app = createApp({ config, database, rules, allocator, keys, logger });

  const sweep = async () => {
    let total = 0;
    for (;;) {
      const n = await expireDue(database.db);
      if (n > 0) allocator.invalidate();
      total += n;
      if (n < 200) return total;
    }
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
            await purgeIdempotency(database.db, config.ATP_IDEMPOTENCY_TTL_HOURS);
          }
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'expiry sweep failed; will retry');
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
      await rules.stop();
      await database.close();
    })());

  return { app, database, rules, allocator, keys, logger, sweep, stop };
}

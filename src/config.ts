/**
 * Every environment variable the service reads, parsed by one zod schema. A bad value stops the
 * start with a message naming the variable (fail fast); nothing else in src/ reads process.env.
 */
import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const emptyAsUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: int(8080, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  /** unset → embedded PGlite under ATP_DATA_DIR */
  DATABASE_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  ATP_DATA_DIR: z.string().default('./data'),
  /** unset → no live copy of the rules (they are in Postgres either way) and events only in the outbox feed */
  REDIS_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^rediss?$/ }).optional()),
  /** Redis hash holding the rules document (change announcements on `<key>:changed`) */
  ATP_RULES_KEY: z.string().min(1).max(200).default('atp:rules'),
  /** periodic re-read of the rules version from Postgres (and Redis when set), ms: how soon another instance applies a change without an announcement */
  ATP_RULES_POLL_MS: int(500, 50, 60_000),
  ATP_EVENTS_STREAM: z.string().min(1).default('atp:events'),
  ATP_EVENTS_MAXLEN: int(1_000_000, 1000, 1_000_000_000),
  /** outbox rows older than this are deleted (published ones only while a relay runs) */
  ATP_OUTBOX_RETENTION_HOURS: int(72, 1, 24 * 365),
  /** `key=scope[+scope],key2=scope`; scopes admin, oms, channel:<name> */
  ATP_API_KEYS: z.preprocess(emptyAsUndefined, z.string().optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ATP_DB_POOL_MAX: int(20, 1, 500),
  ATP_LOCK_TIMEOUT_MS: int(2000, 10, 60_000),
  ATP_STATEMENT_TIMEOUT_MS: int(10_000, 100, 600_000),
  /** bound on retries of a transaction after a serialization failure or deadlock */
  ATP_TX_RETRIES: int(4, 0, 20),
  ATP_SWEEP_INTERVAL_MS: int(1000, 50, 3_600_000),
  ATP_IDEMPOTENCY_TTL_HOURS: int(72, 1, 24 * 365),
  /** kits and units are cached per instance; a change made on another instance is seen within this */
  ATP_CATALOG_TTL_MS: int(2000, 0, 600_000),
  ATP_MAX_BODY_BYTES: int(256 * 1024, 1024, 16 * 1024 * 1024),
  /** most requests one allocation transaction takes (natural batching) */
  ATP_BATCH_MAX: int(500, 1, 10_000),
  /** most requests waiting for allocation in one instance before it sheds load with 429 */
  ATP_QUEUE_MAX: int(20_000, 1, 1_000_000),
  /** most allocation transactions in flight at once (≤ pool size) */
  ATP_BATCH_CONCURRENCY: int(8, 1, 500),
  /** graceful shutdown: exit 1 if draining takes longer than this */
  ATP_SHUTDOWN_TIMEOUT_MS: int(15_000, 100, 600_000),
  /** /readyz reports `degraded` when the oldest unpublished outbox event is older than this */
  ATP_READY_OUTBOX_LAG_S: int(60, 1, 86_400),
  /** OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); unset → no OTLP export */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/ }).optional()),
  OTEL_SERVICE_NAME: z.string().min(1).default('atp-service'),
  /** OTLP metric push interval (ms) */
  OTEL_METRIC_EXPORT_INTERVAL: int(60_000, 1000, 3_600_000),
  /** allocation transactions of one SKU set in flight at once: 2 lets the next batch queue on the row locks while the previous commits */
  ATP_LANE_CONCURRENCY: int(1, 1, 16),
  /** latency budget for the allocation queue: a request whose estimated wait exceeds it gets 429 + Retry-After (0: shed whenever it would wait behind a batch) */
  ATP_QUEUE_BUDGET_MS: int(1000, 0, 600_000),
  /** how long an instance trusts a sold-out observation before asking Postgres again (0: off) */
  ATP_SOLDOUT_TTL_MS: int(250, 0, 60_000),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parse the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

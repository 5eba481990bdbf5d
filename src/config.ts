/**
 * Every environment variable the service reads, parsed by one zod schema. A bad value stops the
 * start with a message naming the variable (fail fast); nothing else in src/ reads process.env.
 */
import { z } from 'zod';

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const emptyAsUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

/** `host:port` with a port in 1–65535; an IPv6 address in brackets (`[::1]:26379`) */
function hostPort(entry: string, portRequired: boolean): { host: string; port?: number } | string {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(entry);
  if (!m) return `"${entry}" is not host:port`;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port === undefined && portRequired) return `"${entry}" has no port`;
  if (port !== undefined && (port < 1 || port > 65535)) return `"${entry}": port out of 1–65535`;
  return { host: (m[1] ?? m[2])!, port };
}

/** target_session_attrs values postgres.js knows (it throws on any other) */
const SESSION_ATTRS = ['read-write', 'read-only', 'primary', 'standby', 'prefer-standby'];

/**
 * A postgres:// URL, single host or several (`postgres://u@h1:p1,h2:p2/db?target_session_attrs=…`,
 * which WHATWG URL parsing rejects, so it is checked here; postgres.js tries the hosts in order).
 * Several hosts need target_session_attrs=read-write or primary, else the pool may open on a
 * standby. `read-write` is passed to postgres.js as `primary`: postgres.js 3.4 judges read-write by
 * the default_transaction_read_only a server reports, which a Postgres ≥ 14 hot standby reports
 * as `off`, so it would accept a standby; `primary` is judged by in_hot_standby, as libpq does.
 */
const databaseUrl = z
  .string()
  .superRefine((v, ctx) => {
    const bad = (message: string) => ctx.addIssue({ code: 'custom', message });
    const m = /^(postgres(?:ql)?):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/.exec(v);
    if (!m) return bad('expected postgres://[user[:password]@]host[:port][,host[:port]…]/database[?params]');
    const hosts = m[3]!.split(',');
    // `postgres:///atp`: no host, libpq-style (PGHOST, e.g. a Unix socket directory)
    for (const h of hosts.length === 1 && hosts[0] === '' ? [] : hosts) {
      const parsed = hostPort(h, false);
      if (typeof parsed === 'string') return bad(`host ${parsed}`);
      if (hosts.length > 1 && h.startsWith('[')) return bad(`host "${h}": IPv6 addresses are not supported in a multi-host URL (postgres.js splits hosts on ":"); use names`);
    }
    if (hosts.length === 1 && !URL.canParse(v)) return bad('not a valid URL');
    const tsa = new URLSearchParams(m[5] ?? '').get('target_session_attrs');
    if (tsa !== null && !SESSION_ATTRS.includes(tsa)) return bad(`target_session_attrs=${tsa}: expected one of ${SESSION_ATTRS.join(', ')}`);
    if (hosts.length > 1 && tsa !== 'read-write' && tsa !== 'primary')
      return bad('a URL with several hosts needs target_session_attrs=read-write (or primary): otherwise the pool may open on a standby');
  })
  .transform((v) => v.replace(/([?&]target_session_attrs=)read-write(?=&|$)/, '$1primary'));

/** `host:port,host:port,…` → [{ host, port }] */
const sentinelList = z.string().transform((v, ctx) => {
  const out: { host: string; port: number }[] = [];
  for (const entry of v.split(',').map((e) => e.trim())) {
    const parsed = hostPort(entry, true);
    if (typeof parsed === 'string') {
      ctx.addIssue({ code: 'custom', message: `expected host:port,host:port,… of the sentinels; ${parsed}` });
      return z.NEVER;
    }
    out.push({ host: parsed.host, port: parsed.port! });
  }
  return out;
});

export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: int(8080, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  /** unset → embedded PGlite under ATP_DATA_DIR; several `host:port` for a replicated cluster (see databaseUrl) */
  DATABASE_URL: z.preprocess(emptyAsUndefined, databaseUrl.optional()),
  ATP_DATA_DIR: z.string().default('./data'),
  /** unset → no live copy of the rules (they are in Postgres either way) and events only in the outbox feed */
  REDIS_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^rediss?$/ }).optional()),
  /** Redis through Sentinel instead of REDIS_URL: `host:port,host:port,…` of the sentinels */
  REDIS_SENTINELS: z.preprocess(emptyAsUndefined, sentinelList.optional()),
  /** the master group name the sentinels monitor (required with REDIS_SENTINELS) */
  REDIS_SENTINEL_NAME: z.preprocess(emptyAsUndefined, z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'a sentinel master name: letters, digits, . _ -').optional()),
  /** Redis hash holding the rules document (change announcements on `<key>:changed`) */
  ATP_RULES_KEY: z.string().min(1).max(200).default('atp:rules'),
  /** periodic re-read of the rules version from Postgres (and Redis when set), ms: how soon another instance applies a change without an announcement */
  ATP_RULES_POLL_MS: int(500, 50, 60_000),
  ATP_EVENTS_STREAM: z.string().min(1).default('atp:events'),
  ATP_EVENTS_MAXLEN: int(1_000_000, 1000, 1_000_000_000),
  /** availability.changed events: at most one per SKU and channel per this many ms (the publisher's period); 0: no publisher in this instance */
  ATP_AVAILABILITY_INTERVAL_MS: int(1000, 0, 3_600_000),
  /** outbox rows older than this are deleted (published ones only while a relay runs) */
  ATP_OUTBOX_RETENTION_HOURS: int(72, 1, 24 * 365),
  /** `key=scope[+scope],key2=scope`; scopes admin, oms, channel:<name> */
  ATP_API_KEYS: z.preprocess(emptyAsUndefined, z.string().optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ATP_DB_POOL_MAX: int(20, 1, 500),
  ATP_LOCK_TIMEOUT_MS: int(2000, 10, 60_000),
  ATP_STATEMENT_TIMEOUT_MS: int(10_000, 100, 600_000),
  /** a request not answered within this gets 503 deadline-exceeded + Retry-After (the work goes on; a retry with the same Idempotency-Key finds its outcome) */
  ATP_REQUEST_DEADLINE_MS: int(5000, 100, 600_000),
  /** how long opening one Postgres connection (per host of a multi-host URL) may take */
  ATP_DB_CONNECT_TIMEOUT_MS: int(5000, 100, 600_000),
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
  /** cold SKU sets that may share one allocation transaction while they wait for a slot (1: each its own) */
  ATP_MERGE_LANES: int(32, 1, 1000),
  /** latency budget for the allocation queue: a request whose estimated wait exceeds it gets 429 + Retry-After (0: shed whenever it would wait behind a batch) */
  ATP_QUEUE_BUDGET_MS: int(1000, 0, 600_000),
  /** connections of the read pool (GET /v1/atp, POST /v1/promise): read statements in flight at once, apart from the write path's ATP_DB_POOL_MAX */
  ATP_READ_POOL_MAX: int(4, 1, 100),
  /** most reads waiting for a read statement in one instance; past it a read is answered 429 overloaded + Retry-After */
  ATP_READ_QUEUE_MAX: int(10_000, 1, 1_000_000),
  /** most SKUs one read statement covers (the reads waiting beyond it go in the next statement) */
  ATP_READ_BATCH_SKUS: int(5000, 100, 100_000),
  /** per-key rate limit of reads (ATP, promise), reads/s per API key and instance; 0: off. Over it: 429 rate-limited naming the limit */
  ATP_READ_RATE_PER_KEY: int(0, 0, 1_000_000),
  /** burst of the per-key read limit (0: one second's worth) */
  ATP_READ_RATE_BURST: int(0, 0, 10_000_000),
  /** how long an instance trusts a sold-out observation before asking Postgres again (0: off) */
  ATP_SOLDOUT_TTL_MS: int(250, 0, 60_000),
}).superRefine((c, ctx) => {
  // one way to reach Redis: a URL, or the sentinels and the name of the master they watch
  if (c.REDIS_URL && c.REDIS_SENTINELS)
    ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINELS'], message: 'REDIS_URL and REDIS_SENTINELS are mutually exclusive: set REDIS_URL for one Redis, or REDIS_SENTINELS and REDIS_SENTINEL_NAME for Redis under Sentinel' });
  if (c.REDIS_SENTINELS && !c.REDIS_SENTINEL_NAME)
    ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINEL_NAME'], message: 'REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the master group name the sentinels monitor)' });
  if (c.REDIS_SENTINEL_NAME && !c.REDIS_SENTINELS)
    ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINEL_NAME'], message: 'REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not' });
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

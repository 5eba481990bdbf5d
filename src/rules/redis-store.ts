/**
 * The rules in Redis, shared by every instance (issue 3).
 *
 * Layout (one hash per deployment, key `ATP_RULES_KEY`, default `atp:rules`):
 *   HSET <key> version <n> doc <RulesInput JSON> updatedAt <ISO time>
 * and a change announcement `PUBLISH <key>:changed <n>` after every write.
 *
 * - `current()` never touches the network: the hot path (every allocation) reads the copy in
 *   memory, so a Redis outage can never fail or slow a reservation.
 * - `put()` is a compare-and-set in one Lua script (read version, compare with If-Match, write,
 *   publish), so two operators cannot overwrite each other: a stale version is a 412.
 * - Every instance subscribes to `<key>:changed` and reloads on a message; a periodic re-read
 *   (`pollMs`, default 500 ms) catches messages lost while a connection was down.
 * - A document in Redis that fails validation is ignored: the last good copy stays in force, the
 *   error is logged once per version and `status()` says degraded.
 * - If Redis comes back without the document (restart without persistence, failover to a lagging
 *   replica) or with an older version, the instance writes its last good copy back (only if the
 *   stored version is still lower), so versions never go backwards.
 * - Every Redis call is bounded (connect and command timeouts, no offline queue, no per-request
 *   retries): when Redis is down calls fail at once and the instance keeps its last good copy.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { PreconditionFailed, Unavailable } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import { DEFAULT_RULES, RulesDocument, type RulesInput } from './schema.js';
import type { RulesStatus, RulesStore } from './store.js';

export interface RedisRulesStoreOptions {
  url: string;
  /** hash key holding the document; the change channel is `<key>:changed` */
  key?: string;
  /** periodic re-read, ms (fallback for missed announcements) */
  pollMs?: number;
  /** the rules count as degraded when not confirmed against Redis for this long, ms */
  staleAfterMs?: number;
  /** how long start() waits for the first load before going on with the defaults, ms */
  startWaitMs?: number;
  logger: Logger;
}

/**
 * CAS write. KEYS[1] = hash; ARGV = expected version ('' = unconditional), doc JSON, updatedAt,
 * channel, this instance's version, deadline (ms, Redis clock). A script that reaches Redis after
 * its deadline (Redis hung, then resumed, after the caller gave up with a 503) does nothing, so a
 * write reported as failed cannot land later and overwrite a newer change.
 */
const PUT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[6]) then return {2, now} end
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') or 0
-- floor: the version this instance holds; higher than Redis only if Redis lost data (not yet written back)
cur = math.max(cur, tonumber(ARGV[5]) or 0)
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= cur then return {0, cur} end
local v = cur + 1
redis.call('HSET', KEYS[1], 'version', v, 'doc', ARGV[2], 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], v)
return {1, v}`;

/** Write back a last good copy only if Redis holds an older version (or none). Same ARGV shape, ARGV[1] = version. */
const RESEED_SCRIPT = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') or 0
local v = tonumber(ARGV[1])
if cur >= v then return 0 end
redis.call('HSET', KEYS[1], 'version', v, 'doc', ARGV[2], 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], v)
return 1`;

const COMMAND_TIMEOUT_MS = 1000;

const inputOf = (doc: RulesDocument): RulesInput => {
  const { version: _v, updatedAt: _u, ...input } = doc;
  return input;
};

export class RedisRulesStore implements RulesStore {
  readonly key: string;
  readonly channel: string;
  private readonly pollMs: number;
  private readonly staleAfterMs: number;
  private readonly startWaitMs: number;
  private readonly log: Logger;
  private readonly client: Redis;
  private readonly subscriber: Redis;

  private doc: RulesDocument = DEFAULT_RULES;
  private loaded = false;
  /** when the copy in memory was last confirmed against Redis (ms epoch); 0 = never */
  private confirmedAt = 0;
  private startedAt = Date.now();
  private lastError: string | undefined;
  /** the raw version field of a document found invalid in Redis (logged once) */
  private invalidVersion: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Redis clock − local clock, ms */
  private clockOffsetMs = 0;

  constructor(opts: RedisRulesStoreOptions) {
    this.key = opts.key ?? 'atp:rules';
    this.channel = `${this.key}:changed`;
    this.pollMs = opts.pollMs ?? 500;
    this.staleAfterMs = opts.staleAfterMs ?? Math.max(3 * this.pollMs, 2000);
    this.startWaitMs = opts.startWaitMs ?? 2000;
    this.log = opts.logger.child({ component: 'rules', rulesKey: this.key });
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: 1000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // keep reconnecting forever, at most once a second
      retryStrategy: (times) => Math.min(times * 100, 1000),
    };
    this.client = new Redis(opts.url, { ...common, connectionName: 'atp-rules' });
    this.subscriber = new Redis(opts.url, { ...common, connectionName: 'atp-rules-sub', autoResubscribe: false });
    let errorLogged = 0;
    const onError = (err: Error) => {
      this.lastError = err.message;
      // a down Redis raises an error per reconnect attempt: log at most every 10 s
      if (Date.now() - errorLogged > 10_000) {
        errorLogged = Date.now();
        this.log.warn({ err: err.message }, 'rules store: Redis error; serving the last good rules from memory');
      }
    };
    this.client.on('error', onError);
    this.subscriber.on('error', onError);
    this.subscriber.on('message', (channel: string) => {
      if (channel === this.channel) void this.reload();
    });
    // (re)subscribe on every connect, then reload: anything announced while down is picked up
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.channel).then(
        () => void this.reload(),
        (err: Error) => onError(err),
      );
    });
    this.client.on('ready', () => {
      void this.reload();
      void this.measureClock();
    });
  }

  /** Offset of the Redis clock from ours (for PUT deadlines), measured on every connect. */
  private async measureClock() {
    try {
      const t0 = Date.now();
      const [sec, usec] = (await this.client.time()) as [number | string, number | string];
      const t1 = Date.now();
      this.clockOffsetMs = Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - (t0 + t1) / 2;
    } catch {
      // keep the last offset
    }
  }

  current(): RulesDocument {
    return this.doc;
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    this.client.connect().catch(() => {});
    this.subscriber.connect().catch(() => {});
    this.timer = setInterval(() => void this.reload(), this.pollMs);
    this.timer.unref();
    // wait (bounded) for the first load so a normal start serves the shared rules from the first request
    const deadline = Date.now() + this.startWaitMs;
    while (!this.loaded && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (!this.loaded) this.log.error({ err: this.lastError }, 'rules store: could not load the rules from Redis at start; enforcing the defaults until it can (/readyz is 503 meanwhile)');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.reloading?.catch(() => {});
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  async put(input: RulesInput, ifVersion?: number): Promise<RulesDocument> {
    const updatedAt = new Date().toISOString();
    // the script must run before the client stops waiting (COMMAND_TIMEOUT_MS), with room for the reply
    const deadline = Math.round(Date.now() + this.clockOffsetMs + COMMAND_TIMEOUT_MS - 250);
    let res: [number, number];
    try {
      res = (await this.client.eval(
        PUT_SCRIPT,
        1,
        this.key,
        ifVersion === undefined ? '' : String(ifVersion),
        JSON.stringify(input),
        updatedAt,
        this.channel,
        String(this.doc.version),
        String(deadline),
      )) as [number, number];
    } catch (err) {
      this.lastError = (err as Error).message;
      throw new Unavailable(`the rules store (Redis) did not answer: ${(err as Error).message}; the rules were not changed`, 1, 'rules-store-unavailable');
    }
    const [ok, version] = res;
    if (ok === 2) throw new Unavailable('the rules store (Redis) was too slow to apply the change before its deadline; the rules were not changed', 1, 'rules-store-unavailable');
    if (ok !== 1) throw new PreconditionFailed(`rules are at version ${version}, not ${ifVersion}`, { currentVersion: version });
    const doc: RulesDocument = { ...input, version, updatedAt };
    this.apply(doc);
    return doc;
  }

  status(): RulesStatus {
    const ageSeconds = Math.round((Date.now() - (this.confirmedAt || this.startedAt)) / 100) / 10;
    let detail: string | undefined;
    if (!this.loaded) detail = `rules never loaded from Redis (${this.lastError ?? 'not connected yet'}); enforcing the defaults`;
    else if (this.client.status !== 'ready' || Date.now() - this.confirmedAt > this.staleAfterMs) detail = `Redis unreachable (${this.lastError ?? 'no answer'}); serving the last good rules (version ${this.doc.version}) from memory`;
    else if (this.invalidVersion !== undefined) detail = `version ${this.invalidVersion} in Redis is not a valid rules document; serving version ${this.doc.version}`;
    return {
      source: 'redis',
      state: detail ? 'degraded' : 'fresh',
      version: this.doc.version,
      ageSeconds,
      loaded: this.loaded,
      ...(detail ? { detail } : {}),
    };
  }

  /** Re-read Redis now; concurrent calls coalesce into one read plus at most one more. */
  reload(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.again = false;
          await this.readOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async readOnce(): Promise<void> {
    let raw: (string | null)[];
    try {
      raw = await this.client.hmget(this.key, 'version', 'doc', 'updatedAt');
    } catch (err) {
      this.lastError = (err as Error).message;
      return;
    }
    const [v, docJson, updatedAt] = raw;
    const stored = v === null ? 0 : Number(v);
    if (v !== null && v === this.invalidVersion) {
      this.confirmedAt = Date.now();
      return;
    }
    if (v === null || (Number.isInteger(stored) && stored < this.doc.version)) {
      this.confirmedAt = Date.now();
      this.invalidVersion = undefined;
      if (!this.loaded) {
        // nothing in Redis yet: the defaults (version 0) are the shared rules
        this.loaded = true;
        if (this.doc.version === 0) return;
      }
      if (this.doc.version > stored) await this.reseed();
      return;
    }
    if (stored === this.doc.version && this.loaded) {
      this.confirmedAt = Date.now();
      this.invalidVersion = undefined;
      return;
    }
    let doc: RulesDocument;
    try {
      const parsed = RulesDocument.safeParse({ ...(JSON.parse(docJson ?? 'null') as object), version: stored, ...(updatedAt ? { updatedAt } : {}) });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`${issue?.path.join('.') || '(document)'}: ${issue?.message}`);
      }
      doc = parsed.data;
    } catch (err) {
      this.invalidVersion = v ?? undefined;
      this.confirmedAt = Date.now();
      this.log.error({ rulesVersion: stored, err: (err as Error).message, inForce: this.doc.version }, 'rules store: invalid rules document in Redis ignored; keeping the last good version');
      return;
    }
    this.confirmedAt = Date.now();
    this.apply(doc);
  }

  private apply(doc: RulesDocument) {
    if (this.loaded && doc.version <= this.doc.version) return;
    const from = this.doc.version;
    this.doc = doc;
    this.loaded = true;
    this.invalidVersion = undefined;
    this.confirmedAt = Date.now();
    if (from !== doc.version) this.log.info({ rulesVersion: doc.version, from }, 'rules applied');
  }

  private async reseed() {
    try {
      const wrote = await this.client.eval(RESEED_SCRIPT, 1, this.key, String(this.doc.version), JSON.stringify(inputOf(this.doc)), this.doc.updatedAt ?? new Date().toISOString(), this.channel);
      if (wrote === 1) this.log.warn({ rulesVersion: this.doc.version }, 'rules store: Redis had lost the rules (or held an older version); wrote the last good version back');
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }
}

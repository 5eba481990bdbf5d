/**
 * The live copy of the rules in Redis, shared by every instance; Postgres stays the one authority
 * (src/rules/versions.ts). Layout (one hash per deployment, key `ATP_RULES_KEY`, default `atp:rules`):
 *   HSET <key> version <n> doc <RulesInput JSON> updatedAt <ISO time>
 * and a change announcement `PUBLISH <key>:changed <n>` whenever the copy is written.
 *
 * - `current()` never touches the network: the hot path reads the copy in memory, so neither a
 *   Redis nor a Postgres outage can fail or slow a reservation.
 * - `put()`: a PING first (Redis unreachable or hung → 503, nothing changed); then the version is
 *   committed in Postgres (If-Match checked in the same statement → 412), put in force in this
 *   instance, and only then written to Redis (never over a newer version) and announced. If that
 *   last write fails the PUT still succeeded: it is durable, and the instances re-publish it.
 * - Every instance re-reads on an announcement and every `pollMs` (500 ms): first the version in
 *   Redis, then the latest version in Postgres, whose document it applies when newer than its own.
 *   Reading Redis first makes "Redis holds a version Postgres lacks" a proof that the copy was not
 *   written by an instance (those write only after the commit), so:
 *   - Redis behind Postgres (key missing after a restart without persistence, an older version
 *     after a failover, a write lost after a commit): the Postgres version is written back, only
 *     over an older one, so versions never go back;
 *   - Redis ahead of Postgres or unparsable (written by hand, or another deployment shares the
 *     key): never enforced, and not overwritten either (two deployments on one key would
 *     otherwise overwrite each other forever); reported as degraded, with the remedy, until the
 *     key is deleted or Postgres's version passes it;
 *   - Postgres has no rules and Redis has a valid document (upgrade from a release that kept the
 *     rules only in Redis): it is adopted as the first stored version, with its number.
 * - Every Redis call is bounded (connect and command timeouts, no offline queue, no per-request
 *   retries): when Redis is down calls fail at once and the instance keeps the rules it has.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { createRedis, type RedisTarget } from '../redis-connection.js';
import { Unavailable } from '../domain/errors.js';
import { RulesDocument } from '../contract/rules.js';
import { PostgresRulesStore, type PostgresRulesStoreOptions, type RulesStatus } from './store.js';
import { adoptRules } from './versions.js';

export interface RedisRulesStoreOptions extends PostgresRulesStoreOptions {
  /** a Redis URL, or where Redis is from the configuration (URL or Sentinel): src/redis-connection.ts */
  url: string | RedisTarget;
  /** hash key holding the document; the change channel is `<key>:changed` */
  key?: string;
  /** how long start() waits for Redis before going on (degraded) with the rules from Postgres, ms */
  startWaitMs?: number;
}

/**
 * Write the copy and announce it, only over a missing or older version (never over a newer or
 * unparsable one). KEYS[1] = hash; ARGV = version, doc JSON, updatedAt, channel.
 */
const PUBLISH_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'version')
if cur then
  local n = tonumber(cur)
  if n == nil or n >= tonumber(ARGV[1]) then return 0 end
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'doc', ARGV[2], 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1`;

const COMMAND_TIMEOUT_MS = 1000;

export class RedisRulesStore extends PostgresRulesStore {
  readonly key: string;
  readonly channel: string;
  private readonly startWaitMs: number;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  /** when Redis last answered a re-read (ms epoch); 0 = never */
  private redisConfirmedAt = 0;
  private redisError: string | undefined;
  /** the version field of a copy in Redis that Postgres does not have (undefined: none) */
  private foreign: string | undefined;
  /** an invalid document found in Redis while Postgres had none (logged once) */
  private invalidSeen: string | undefined;

  constructor(opts: RedisRulesStoreOptions) {
    super(opts);
    this.key = opts.key ?? 'atp:rules';
    this.channel = `${this.key}:changed`;
    this.startWaitMs = opts.startWaitMs ?? 2000;
    const common: RedisOptions = {
      lazyConnect: true,
      connectTimeout: 1000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      // keep reconnecting forever, at most once a second
      retryStrategy: (times) => Math.min(times * 100, 1000),
    };
    const target: RedisTarget = typeof opts.url === 'string' ? { kind: 'url', url: opts.url } : opts.url;
    this.client = createRedis(target, { ...common, connectionName: 'atp-rules' });
    this.subscriber = createRedis(target, { ...common, connectionName: 'atp-rules-sub', autoResubscribe: false });
    let errorLogged = 0;
    const onError = (err: Error) => {
      this.redisError = err.message;
      // a down Redis raises an error per reconnect attempt: log at most every 10 s
      if (Date.now() - errorLogged > 10_000) {
        errorLogged = Date.now();
        this.log.warn({ err: err.message, rulesKey: this.key }, 'rules store: Redis error; serving the rules in memory (Postgres is the authority)');
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
    this.client.on('ready', () => void this.reload());
  }

  override async start(): Promise<void> {
    await super.start();
    this.client.connect().catch(() => {});
    this.subscriber.connect().catch(() => {});
    // wait (bounded) for Redis, so a normal start can take a PUT at once; the rules are already loaded
    const deadline = Date.now() + this.startWaitMs;
    while (this.redisConfirmedAt === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (this.redisConfirmedAt === 0) this.log.error({ err: this.redisError }, 'rules store: Redis not reachable at start; enforcing the rules from Postgres (/readyz degraded meanwhile)');
  }

  override async stop(): Promise<void> {
    await super.stop();
    this.client.disconnect();
    this.subscriber.disconnect();
  }

  override async put(input: Parameters<PostgresRulesStore['put']>[0], ifVersion?: number, actor?: string) {
    try {
      await this.client.ping();
    } catch (err) {
      this.redisError = (err as Error).message;
      throw new Unavailable(`the rules store (Redis) did not answer: ${(err as Error).message}; the rules were not changed`, 1, 'rules-store-unavailable');
    }
    const doc = await super.put(input, ifVersion, actor);
    try {
      await this.publish(doc);
    } catch (err) {
      this.redisError = (err as Error).message;
      this.log.warn({ rulesVersion: doc.version, err: (err as Error).message }, 'rules store: version committed in Postgres and in force here, but not written to Redis; the instances write it there when Redis answers');
    }
    return doc;
  }

  override status(): RulesStatus {
    let detail = this.pgDetail();
    if (!detail && this.redisConfirmedAt === 0) detail = `Redis not reached yet (${this.redisError ?? 'connecting'}); enforcing version ${this.doc.version} from Postgres`;
    else if (!detail && (this.client.status !== 'ready' || this.now() - this.redisConfirmedAt > this.staleAfterMs))
      detail = `Redis unreachable (${this.redisError ?? 'no answer'}); serving the last good rules (version ${this.doc.version}) from memory`;
    else if (!detail && this.foreign !== undefined)
      detail = `Redis holds rules version ${this.foreign}, which Postgres does not have (written outside the service, or another deployment shares ATP_RULES_KEY ${this.key}); not enforced: serving version ${this.doc.version} from Postgres. Delete the key (the instances then write the Postgres version there) or give this deployment its own ATP_RULES_KEY`;
    const confirmedAt = Math.min(this.pgConfirmedAt, this.redisConfirmedAt || this.pgConfirmedAt);
    return { source: 'redis', state: detail ? 'degraded' : 'fresh', version: this.doc.version, ageSeconds: this.ageSeconds(confirmedAt), loaded: this.loaded, ...(detail ? { detail } : {}) };
  }

  /** Redis first, then Postgres (see the header), then bring Redis up to Postgres. */
  protected override async readOnce(): Promise<void> {
    let raw: string | null;
    try {
      raw = await this.client.hget(this.key, 'version');
    } catch (err) {
      this.redisError = (err as Error).message;
      await this.readPostgres(false);
      return;
    }
    this.redisConfirmedAt = this.now();
    await this.readPostgres(false); // never throws with false: a failure is in pgError
    if (this.pgError) return;
    try {
      if (this.pgLatest === 0 && raw !== null) await this.adopt();
      else await this.sync(raw);
    } catch (err) {
      this.redisError = (err as Error).message;
    }
  }

  private async sync(raw: string | null) {
    if (this.pgLatest === 0 || this.doc.version !== this.pgLatest) return; // nothing stored yet, or not applied
    const n = raw === null ? 0 : Number(raw);
    const numeric = raw === null || (Number.isSafeInteger(n) && String(n) === raw);
    if (numeric && n <= this.pgLatest) {
      if (this.foreign !== undefined) this.log.info({ rulesVersion: this.pgLatest }, 'rules store: the copy in Redis is the Postgres version again');
      this.foreign = undefined;
      if (n < this.pgLatest && (await this.publish(this.doc)))
        this.log.warn({ rulesVersion: this.doc.version, found: raw }, 'rules store: Redis was behind Postgres (restart without persistence, failover, or a write lost after a commit); wrote the Postgres version back');
      return;
    }
    if (this.foreign !== raw) this.log.error({ found: raw, rulesVersion: this.doc.version, rulesKey: this.key }, 'rules store: Redis holds a rules version Postgres does not have; not enforced (see /readyz for the remedy)');
    this.foreign = raw!;
  }

  /** Postgres has no rules yet, Redis has some: adopt a valid document as the first version. */
  private async adopt() {
    const [v, docJson, updatedAt] = await this.client.hmget(this.key, 'version', 'doc', 'updatedAt');
    let body: unknown = null;
    try {
      body = JSON.parse(docJson ?? 'null');
    } catch {
      // not JSON: invalid below
    }
    const parsed = RulesDocument.safeParse({ ...(body && typeof body === 'object' ? body : { invalid: true }), version: Number(v), ...(updatedAt ? { updatedAt } : {}) });
    if (!parsed.success || parsed.data.version < 1) {
      if (this.invalidSeen !== v) {
        this.invalidSeen = v ?? undefined;
        this.log.error({ found: v }, 'rules store: Redis holds an invalid rules document and Postgres has none; ignored (the defaults are in force until a PUT)');
      }
      return;
    }
    if (await adoptRules(this.db, parsed.data)) this.log.warn({ rulesVersion: parsed.data.version }, 'rules store: adopted the rules found in Redis as the first version stored in Postgres');
    await this.readPostgres(false);
  }

  private async publish(doc: RulesDocument): Promise<boolean> {
    const { version, updatedAt, ...input } = doc;
    const wrote = await this.client.eval(PUBLISH_SCRIPT, 1, this.key, String(version), JSON.stringify(input), updatedAt ?? '', this.channel);
    return wrote === 1;
  }
}

/**
 * Where the rules in force come from. Postgres is the one authority (src/rules/versions.ts: every
 * version stored, the number assigned by Postgres, If-Match checked in the same statement).
 * - `PostgresRulesStore` (no REDIS_URL): loads the latest version at start, writes through
 *   Postgres, and re-reads the latest version every `pollMs` so other instances on the same
 *   database apply a change within that interval.
 * - `RedisRulesStore` (src/rules/redis-store.ts) adds the live copy in Redis on top of it.
 * - `MemoryRulesStore`: in process only, nothing durable — a test double, never used by the service.
 * Every store keeps the version in force in memory: `current()` never does I/O (hot path).
 */
import { PreconditionFailed } from '../domain/errors.js';
import type { Clock } from '../db/clock.js';
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { DEFAULT_RULES, type RulesDocument, type RulesInput } from '../contract/rules.js';
import { insertRules, InvalidStoredRules, latestRules } from './versions.js';

export interface RulesStatus {
  source: 'memory' | 'postgres' | 'redis';
  /** `degraded`: the backing store cannot be reached (or holds an invalid document) and the last good copy is being served */
  state: 'fresh' | 'degraded';
  /** version of the rules in force in this instance */
  version: number;
  /** seconds since the rules in memory were last confirmed against the store */
  ageSeconds: number;
  /** false only while an instance has never loaded the rules from its store (it then enforces the defaults) */
  loaded: boolean;
  /** why the state is degraded */
  detail?: string;
}

export interface RulesStore {
  /** the rules in force: synchronous, never a network call (hot path) */
  current(): RulesDocument;
  /**
   * Replace the rules; `ifVersion` makes it conditional (optimistic concurrency). Resolves once
   * the new version is committed in Postgres and in force in this instance (every request that
   * starts after it sees it). Errors: 412 `PreconditionFailed` when `ifVersion` is not the latest
   * version, 503 `Unavailable` when the store cannot be reached (nothing changed).
   */
  put(input: RulesInput, ifVersion?: number, actor?: string): Promise<RulesDocument>;
  status(): RulesStatus;
  /**
   * A valid version read from Postgres by someone else (the read path sees the latest version in
   * its own statement): put it in force when it is newer than the one in memory. Synchronous.
   */
  observe?(doc: RulesDocument): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PostgresRulesStoreOptions {
  db: Db;
  /** re-read of the latest version, ms; 0 = never (a single process: embedded PGlite) */
  pollMs?: number;
  /** degraded when the rules were not confirmed against Postgres for this long, ms */
  staleAfterMs?: number;
  logger: Logger;
  /**
   * tests only (ServiceOptions.clock, db/clock.ts): the instant a PUT stores as updatedAt in place
   * of Postgres now(), and the clock of confirmations and staleness (so a test makes the rules
   * stale without waiting); default Postgres time and Date.now
   */
  clock?: Clock | undefined;
}

export class PostgresRulesStore implements RulesStore {
  protected doc: RulesDocument = DEFAULT_RULES;
  protected loaded = false;
  /** the latest version Postgres held at the last read (0: none) */
  protected pgLatest = 0;
  protected pgConfirmedAt = 0;
  protected pgError: string | undefined;
  protected readonly db: Db;
  protected readonly pollMs: number;
  protected readonly staleAfterMs: number;
  protected readonly log: Logger;
  protected readonly now: () => number;
  private readonly clock: Clock | undefined;
  protected startedAt: number;
  protected stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;

  constructor(opts: PostgresRulesStoreOptions) {
    this.db = opts.db;
    this.pollMs = opts.pollMs ?? 500;
    this.staleAfterMs = opts.staleAfterMs ?? Math.max(3 * this.pollMs, 2000);
    this.log = opts.logger.child({ component: 'rules' });
    this.clock = opts.clock;
    this.now = opts.clock ? () => opts.clock!.now().getTime() : Date.now;
    this.startedAt = this.now();
  }

  current(): RulesDocument {
    return this.doc;
  }

  /** Loads the latest version from Postgres (throws when Postgres cannot be read: no start on unknown rules). */
  async start(): Promise<void> {
    this.startedAt = this.now();
    await this.readPostgres(true);
    if (this.pollMs > 0) {
      this.timer = setInterval(() => void this.reload(), this.pollMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.reloading?.catch(() => {});
  }

  async put(input: RulesInput, ifVersion?: number, actor?: string): Promise<RulesDocument> {
    const doc = await insertRules(this.db, input, ifVersion, actor, this.clock);
    this.pgLatest = Math.max(this.pgLatest, doc.version);
    this.apply(doc);
    return doc;
  }

  observe(doc: RulesDocument): void {
    this.pgLatest = Math.max(this.pgLatest, doc.version);
    this.apply(doc);
  }

  status(): RulesStatus {
    const detail = this.pgDetail();
    return { source: 'postgres', state: detail ? 'degraded' : 'fresh', version: this.doc.version, ageSeconds: this.ageSeconds(this.pgConfirmedAt), loaded: this.loaded, ...(detail ? { detail } : {}) };
  }

  /** Re-read now; concurrent calls coalesce into one read plus at most one more. */
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

  protected async readOnce(): Promise<void> {
    await this.readPostgres(false);
  }

  /** Read the latest version (its document only when newer than ours) and apply it. */
  protected async readPostgres(rethrow: boolean): Promise<void> {
    try {
      const latest = await latestRules(this.db, this.loaded ? this.doc.version : -1);
      this.pgLatest = latest?.version ?? 0;
      this.pgConfirmedAt = this.now();
      this.pgError = undefined;
      if (latest?.doc) this.apply(latest.doc);
      else if (!latest) this.loaded = true; // nothing set yet: the defaults (version 0) are the rules
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.pgError) this.log.error({ err: message, inForce: this.doc.version }, 'rules store: cannot read the rules from Postgres; keeping the version in force');
      this.pgError = message;
      // no start without Postgres; an invalid stored version is reported (/readyz) until a PUT replaces it
      if (rethrow && !(err instanceof InvalidStoredRules)) throw err;
    }
  }

  protected apply(doc: RulesDocument): void {
    if (this.loaded && doc.version <= this.doc.version) return;
    const from = this.doc.version;
    this.doc = doc;
    this.loaded = true;
    if (from !== doc.version) this.log.info({ rulesVersion: doc.version, from }, 'rules applied');
  }

  protected pgDetail(): string | undefined {
    if (!this.loaded) return `rules never loaded from Postgres (${this.pgError ?? 'not read yet'}); enforcing the defaults`;
    if (this.pgError && this.now() - this.pgConfirmedAt > this.staleAfterMs) return `Postgres unreadable (${this.pgError}); serving the last good rules (version ${this.doc.version}) from memory`;
    return undefined;
  }

  protected ageSeconds(confirmedAt: number): number {
    // a single process (no re-read) is the only writer: its copy is always the latest
    return this.pollMs === 0 ? 0 : Math.round((this.now() - (confirmedAt || this.startedAt)) / 100) / 10;
  }
}

/** In process only, nothing durable: a test double (tests inject it through ServiceOptions.rules). */
export class MemoryRulesStore implements RulesStore {
  private doc: RulesDocument = DEFAULT_RULES;

  current(): RulesDocument {
    return this.doc;
  }

  async put(input: RulesInput, ifVersion?: number): Promise<RulesDocument> {
    if (ifVersion !== undefined && ifVersion !== this.doc.version) {
      throw new PreconditionFailed(`rules are at version ${this.doc.version}, not ${ifVersion}`, { currentVersion: this.doc.version });
    }
    this.doc = { ...input, version: this.doc.version + 1, updatedAt: new Date().toISOString() };
    return this.doc;
  }

  status(): RulesStatus {
    return { source: 'memory', state: 'fresh', version: this.doc.version, ageSeconds: 0, loaded: true };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/**
 * The outbox relay: publishes outbox rows to a Redis Stream (XADD … MAXLEN ~ n) as CloudEvents
 * 1.0 JSON, then marks them published.
 *
 * Contract:
 * - At least once: a row is marked `published_at` only after its XADD succeeded, in the same
 *   transaction that read it; if Redis fails mid-batch, the rows whose XADD succeeded are marked
 *   and the rest stay for the next pass (a reply lost in flight can still duplicate an entry, so
 *   consumers dedupe on the CloudEvents `id`, which is the row's stable `event_id`).
 * - Commit order: a pass only takes rows whose writer transaction id is below the xmin of the
 *   current snapshot (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction below it has
 *   finished, so no transaction still in flight can later commit a row that sorts before one
 *   already published. Rows go out ordered by (txid, id); the whole stream is therefore sorted by
 *   (txid, id) — a transaction's events in write order, and two transactions that touched the
 *   same reservation or position (row locks) in the order they took the lock.
 * - One publisher at a time, by design: each pass runs in a transaction that first takes
 *   `pg_try_advisory_xact_lock(RELAY_LOCK)`; another instance's pass skips (it is not the leader
 *   this time) instead of claiming rows of its own, which would interleave batches out of order.
 *   Leadership is per pass, so when the leader dies another instance takes over at its next pass.
 * - Redis down: the pass fails, nothing is marked, the backlog stays in Postgres; the loop retries
 *   with exponential backoff (with jitter) and drains the backlog when Redis is back.
 * - `stop()` stops the loop and runs one last drain, bounded by `flushMs`.
 */
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { type Db, query } from '../db/client.js';
import { inTransaction } from '../db/tx.js';
import type { Logger } from '../logger.js';
import { type OutboxRow, toCloudEvent } from './types.js';

/** The advisory lock (per database) whose holder publishes. 'ATPRELAY' as 8 bytes. */
export const RELAY_LOCK = 0x41545052454c4159n;

export interface RelayOptions {
  db: Db;
  /** a Redis URL (the relay owns and closes its client) or a client (the caller owns it) */
  redis: string | Redis;
  stream: string;
  /** approximate MAXLEN of the stream (XADD MAXLEN ~) */
  maxLen: number;
  /** rows per pass (one transaction, one pipeline) */
  batchSize?: number;
  /** idle poll interval when the outbox is empty */
  intervalMs?: number;
  /** first and largest backoff after a failure */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

export interface RelayLag {
  /** rows not yet published */
  unpublished: number;
  /** age in seconds of the oldest unpublished row (0 when none) */
  oldestAgeSeconds: number;
}

export interface RelayStatus {
  running: boolean;
  redis: string;
  /** last pass failed (Redis or database) and the loop is backing off */
  failing: boolean;
  lastError: string | null;
  /** rows this instance published since start */
  published: number;
  lastPublishedAt: string | null;
  /** completed loop drains (successful or not-leader) since start */
  passes: number;
}

export interface PassResult {
  leader: boolean;
  published: number;
}

export class OutboxRelay {
  private readonly redis: Redis;
  private readonly ownsRedis: boolean;
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private loopPromise: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private failing = false;
  private lastError: string | null = null;
  private published = 0;
  private lastPublishedAt: Date | null = null;
  private lastRedisErrorLog = 0;
  private passes = 0;
  private everReady = false;
  private redisErrored = false;

  constructor(private readonly opts: RelayOptions) {
    this.batchSize = opts.batchSize ?? 500;
    this.intervalMs = opts.intervalMs ?? 200;
    this.minBackoffMs = opts.minBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    if (typeof opts.redis === 'string') {
      this.ownsRedis = true;
      this.redis = new Redis(opts.redis, {
        // fail fast while disconnected: the backlog waits in Postgres, not in process memory
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 5000,
        connectTimeout: 5000,
        retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 2000),
        connectionName: 'atp-outbox-relay',
      });
      this.redis.on('error', (err: Error) => {
        this.redisErrored = true;
        // ioredis emits on every reconnect attempt; log at most every 10 s
        if (Date.now() - this.lastRedisErrorLog > 10_000) {
          this.lastRedisErrorLog = Date.now();
          this.opts.logger?.warn({ err: err.message }, 'outbox relay: redis unavailable; events wait in the outbox');
        }
      });
    } else {
      this.ownsRedis = false;
      this.redis = opts.redis;
    }
  }

  /**
   * One pass: if this instance holds the relay lock, publish up to `batchSize` settled rows in
   * (txid, id) order and mark them. Throws when Redis or the database fails (nothing lost).
   */
  async publishOnce(): Promise<PassResult> {
    if (this.redis.status !== 'ready') throw new Error(`redis is ${this.redis.status}`);
    return inTransaction(
      this.opts.db,
      async (tx) => {
        const [lock] = await query<{ ok: boolean }>(tx, sql`select pg_try_advisory_xact_lock(${RELAY_LOCK.toString()}::bigint) as ok`);
        if (!lock?.ok) return { leader: false, published: 0 };
        const rows = await query<OutboxRow>(
          tx,
          sql`select id::text as id, event_id, type, subject, data, txid::text as txid, created_at
              from outbox
              where published_at is null and txid < pg_snapshot_xmin(pg_current_snapshot())
              order by outbox.txid, outbox.id
              limit ${this.batchSize}`,
        );
        if (rows.length === 0) return { leader: true, published: 0 };
        const pipe = this.redis.pipeline();
        for (const r of rows) {
          const ev = toCloudEvent(r);
          pipe.xadd(this.opts.stream, 'MAXLEN', '~', this.opts.maxLen, '*', 'id', ev.id, 'type', ev.type, 'subject', ev.subject, 'event', JSON.stringify(ev));
        }
        const replies = (await pipe.exec()) ?? [];
        // the prefix that Redis acknowledged is published; the rest waits for the next pass
        let ok = 0;
        while (ok < rows.length && replies[ok] && !replies[ok]![0]) ok++;
        if (ok > 0) {
          await query(
            tx,
            sql`update outbox set published_at = now()
                where id in (select jsonb_array_elements_text(${JSON.stringify(rows.slice(0, ok).map((r) => r.id))}::jsonb)::bigint)`,
          );
        }
        if (ok < rows.length) {
          const err = replies[ok]?.[0] ?? new Error('no reply from redis');
          // commit what was acknowledged, report the failure after the transaction
          return { leader: true, published: ok, error: err } as PassResult & { error?: Error };
        }
        return { leader: true, published: ok };
      },
      0,
    ).then((r: PassResult & { error?: Error }) => {
      if (r.published > 0) {
        this.published += r.published;
        this.lastPublishedAt = new Date();
      }
      if (r.error) throw r.error;
      return { leader: r.leader, published: r.published };
    });
  }

  /** Publish until the settled backlog is empty (or another instance is the publisher). */
  async drain(deadline = Infinity): Promise<number> {
    return (await this.drainPasses(deadline)).published;
  }

  private async drainPasses(deadline: number): Promise<PassResult> {
    let total = 0;
    for (;;) {
      const r = await this.publishOnce();
      total += r.published;
      if (!r.leader || r.published < this.batchSize || Date.now() >= deadline) return { leader: r.leader, published: total };
    }
  }

  /**
   * Drain until nothing is unpublished, waiting for rows still behind the xmin horizon, until
   * `deadline`; stops early when another instance is the publisher (it will carry on).
   */
  private async flush(deadline: number): Promise<void> {
    for (;;) {
      const r = await this.drainPasses(deadline);
      if (!r.leader || Date.now() >= deadline || (await this.lag()).unpublished === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Rows waiting and the age of the oldest (for /readyz and metrics). */
  async lag(): Promise<RelayLag> {
    const [row] = await query<{ n: number; age: number | null }>(
      this.opts.db,
      sql`select count(*)::int as n, extract(epoch from (now() - min(created_at)))::float8 as age from outbox where published_at is null`,
    );
    return { unpublished: row?.n ?? 0, oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
  }

  status(): RelayStatus {
    return {
      running: this.loopPromise !== undefined && !this.stopping,
      redis: this.redis.status,
      failing: this.failing,
      lastError: this.lastError,
      published: this.published,
      lastPublishedAt: this.lastPublishedAt?.toISOString() ?? null,
      passes: this.passes,
    };
  }

  /** Start the background loop (idempotent). */
  start(): void {
    if (this.loopPromise) return;
    this.stopping = false;
    this.loopPromise = this.loop();
  }

  /** Wake the loop now (e.g. right after a commit that wrote events). */
  notify(): void {
    this.wake?.();
  }

  /**
   * Stop the loop, then a final flush bounded by `flushMs` (it also waits, within that bound, for
   * rows of transactions that were still settling); closes the client it owns.
   */
  async stop(flushMs = 5000): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loopPromise;
    this.loopPromise = undefined;
    if (this.redis.status === 'ready') {
      try {
        await this.flush(Date.now() + flushMs);
      } catch (err) {
        this.opts.logger?.warn({ err: (err as Error).message }, 'outbox relay: final drain failed; the backlog stays in the outbox');
      }
    }
    if (this.ownsRedis) this.redis.disconnect();
  }

  private async loop(): Promise<void> {
    let backoff = 0;
    while (!this.stopping) {
      let wait: number;
      if (!this.everReady && !this.redisErrored && ['wait', 'connecting', 'connect'].includes(this.redis.status)) {
        // still making the first connection: not a failure yet
        await this.pause(Math.min(this.intervalMs, this.minBackoffMs));
        continue;
      }
      this.everReady = true;
      try {
        await this.drain();
        this.passes++;
        if (this.failing) this.opts.logger?.info('outbox relay: publishing again');
        this.failing = false;
        backoff = 0;
        wait = this.intervalMs;
      } catch (err) {
        this.failing = true;
        this.lastError = (err as Error).message;
        backoff = Math.min(this.maxBackoffMs, backoff === 0 ? this.minBackoffMs : backoff * 2);
        wait = backoff / 2 + (Math.random() * backoff) / 2;
      }
      if (this.stopping) break;
      await this.pause(wait);
    }
  }

  /** Sleep up to `ms`, cut short by notify() or stop(). */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }
}

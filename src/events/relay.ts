/**
 * The outbox relay: publishes outbox rows to a Redis Stream (XADD … MAXLEN ~ n) as CloudEvents
 * 1.0 JSON, then moves its cursor past them.
 *
 * Position: one row, `relay_cursor` (txid, outbox_id): the last row in the stream, in publication
 * order. Rows above it are unpublished. A pass reads the rows above it (one range of the
 * (txid, id) index) and moves it once: one UPDATE per pass, not one per event.
 *
 * Contract:
 * - Exactly once into the stream. Each entry gets an explicit stream id derived from its row,
 *   `<txid>-<id>` (writer's transaction id, outbox id: both 64-bit, as a Redis stream id's two
 *   parts). Rows are published in (txid, id) order (below), so the ids increase strictly in the
 *   order entries are appended, and Redis itself refuses a second XADD of the same event ("ERR
 *   The ID specified in XADD is equal or smaller than the target stream top item"). outbox.id
 *   alone would not do: ids are drawn at insert, commits land in another order, and a smaller id
 *   published after a larger one would be refused as a duplicate and lost.
 * - One pass appends its batch in one Lua script that stops at the first error other than that
 *   refusal, so the stream always holds a prefix of the publication order; a row refused as
 *   already present (an earlier pass whose reply was lost, a Redis killed after its append) is
 *   marked published like an appended one — after checking that the stream's last entry
 *   (XREVRANGE … COUNT 1) is a row of this outbox. A stream whose last entry is not (written by
 *   another deployment, or by a relay before explicit ids) stops the relay with an error that
 *   says so, rather than mark events published that are not in it.
 * - Resume from the stream: on every (re)connect the first pass reads the stream's last entry
 *   and, if it is a row of this outbox, moves the cursor back to it (every later row is
 *   unpublished again), so after a
 *   failover to a lagging replica (or a restore of an older snapshot) the relay resumes exactly
 *   from the last id present and the stream loses nothing that is still in the outbox. A missing
 *   or empty stream is not replayed (it cannot be told apart from a new stream name).
 * - The cursor passes a row only after its XADD succeeded (or was refused as present), in the
 *   same transaction that read it; if Redis fails mid-batch the rest waits for the next pass.
 *   Consumers may still dedupe on the CloudEvents `id` (the row's stable `event_id`).
 * - Commit order: a pass only takes rows whose writer transaction id is below the xmin of the
 *   current snapshot (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction below it has
 *   finished, so no transaction still in flight can later commit a row that sorts before one
 *   already published. Rows go out ordered by (txid, id); the whole stream is therefore sorted by
 *   (txid, id) — a transaction's events in write order, and two transactions that touched the
 *   same reservation or position (row locks) in the order they took the lock.
 * - Only commits the synchronous standby confirmed: when `synchronous_standby_names` is set
 *   (read with the pass's lock, no extra round trip), a pass that read rows waits (up to
 *   `syncWait`, 2 s) until the standby(s) Postgres waits for have flushed the WAL of every commit
 *   its snapshot sees (src/events/sync-standby.ts). A commit is visible on the primary before the
 *   standby confirms it when its wait is cut short (a primary shut down while demoted, failover
 *   run 9) or after a crash restart: such a row is not published until it is on a standby, and
 *   if the wait runs out the pass appends nothing and fails (`SyncStandbyUnconfirmed`, status
 *   lastError; the loop backs off and retries). The role needs pg_monitor to see the standbys'
 *   positions. With the setting empty (one node) nothing is waited for.
 * - Only from a writable primary: each pass locks the cursor row before it reads a row or touches
 *   the stream, so a connection on a hot standby (or a read-only node) fails with 25006 first.
 * - One publisher at a time, by design: each pass runs in a transaction that first takes
 *   `pg_try_advisory_xact_lock(RELAY_LOCK)`; another instance's pass skips (it is not the leader
 *   this time) instead of claiming rows of its own, which would interleave batches out of order.
 *   Leadership is per pass, so when the leader dies another instance takes over at its next pass.
 * - Redis down: the pass fails, nothing is marked, the backlog stays in Postgres; the loop retries
 *   with exponential backoff (with jitter) and drains the backlog when Redis is back: a (re)connect
 *   of the relay's client wakes the loop at once, whatever the back-off had reached.
 * - `stop()` stops the loop and runs one last drain, bounded by `flushMs`.
 */
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { createRedis, type RedisTarget } from '../redis-connection.js';
import { asDate, type Clock, nowSql } from '../db/clock.js';
import { type Db, query } from '../db/client.js';
import { inTransaction } from '../db/tx.js';
import type { Logger } from '../logger.js';
import { awaitSyncStandbys, DEFAULT_SYNC_WAIT, SyncStandbyUnconfirmed, type SyncWait } from './sync-standby.js';
import { appendBatch, ForeignStream, requireLastEntry, resumeFromStream, type StreamRef } from './stream.js';
import type { OutboxRow } from './types.js';

/** The advisory lock (per database) whose holder publishes. 'ATPRELAY' as 8 bytes. */
export const RELAY_LOCK = 0x41545052454c4159n;

/**
 * `outbox o` rows above the relay's cursor, as ONE index condition on outbox_txid_id_idx: the
 * cursor is read by two init-plans, so the range scan starts at the cursor. (A join with
 * relay_cursor compares the row after the scan: every published row still in the outbox was read
 * on every pass — 20,000 rows, 22 ms, at the end of a 10 s flash sale.) Proved by
 * test/events.relay-cost.test.ts.
 */
export const aboveCursor = sql`(o.txid, o.id) > ((select c.txid from relay_cursor c where c.id = 1), (select c.outbox_id from relay_cursor c where c.id = 1))`;
export { ForeignStream, streamIdOf } from './stream.js';
export { SyncStandbyUnconfirmed } from './sync-standby.js';

/**
 * One pass's rows: up to `limit` rows above the cursor whose writers have all settled, in
 * publication order, each with its data as JSON text (a reservation.created row's is its
 * reservation's stored answer, through the view outbox_event).
 */
export const pendingRowsSql = (limit: number) =>
  sql`select o.id::text as id, o.event_id, o.type, o.subject, o.data_json::text as data, o.txid::text as txid, o.created_at
      from outbox_event o
      where ${aboveCursor} and o.txid < pg_snapshot_xmin(pg_current_snapshot())
      order by o.txid, o.id
      limit ${limit}`;

/** RelayLag counts unpublished rows up to this many (a count is a scan of what it counts). */
export const LAG_COUNT_CAP = 100_000;

/**
 * The unpublished rows (up to LAG_COUNT_CAP) and the age of the oldest (RelayLag). Both read the
 * index from the cursor on: the ORDER BY … LIMIT makes the range scan the plan whatever the
 * planner guesses of the cursor (it cannot see it when planning and assumes a third of the table).
 */
export const lagSql = (clock?: Clock) =>
  sql`select (select count(*)::int from (select 1 from outbox o where ${aboveCursor} order by o.txid, o.id limit ${LAG_COUNT_CAP}) u) as n,
             extract(epoch from (${nowSql(clock)} - (select o.created_at from outbox o where ${aboveCursor} order by o.txid, o.id limit 1)))::float8 as age`;

export interface RelayOptions {
  db: Db;
  /** a Redis URL (the relay owns and closes its client) or a client (the caller owns it) */
  redis: string | RedisTarget | Redis;
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
  /** under synchronous replication: how long a pass waits for the standby(s) to confirm its rows (default 2 s, polled every 10 ms) */
  syncWait?: SyncWait;
  /** tests only: the instant stamped on the cursor (published_at) and used for the lag (db/clock.ts) */
  clock?: Clock | undefined;
}

export interface RelayLag {
  /** rows not yet published (counted up to LAG_COUNT_CAP) */
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
  /** rows this instance published since start (appended, or found already in the stream) */
  published: number;
  /** of those, rows Redis refused as already present (a pass whose reply was lost) */
  alreadyPresent: number;
  /** rows marked unpublished again because the stream had lost them (failover, older snapshot) */
  resumed: number;
  /** reconnects that found the stream missing or empty although events had been published to it (Redis lost it, or a new stream name) */
  streamLost: number;
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
  private readonly stream: StreamRef;
  private readonly ownsRedis: boolean;
  private readonly batchSize: number;
  private readonly syncWait: SyncWait;
  private readonly intervalMs: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private loopPromise: Promise<void> | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private failing = false;
  private lastError: string | null = null;
  private published = 0;
  private alreadyPresent = 0;
  private resumed = 0;
  private streamLost = 0;
  /** Redis (re)connects seen, and the last one whose stream top a pass has checked */
  private connects = 1;
  private checkedConnect = 0;
  private lastPublishedAt: Date | null = null;
  private lastRedisErrorLog = 0;
  private passes = 0;
  private everReady = false;
  private redisErrored = false;

  constructor(private readonly opts: RelayOptions) {
    this.batchSize = opts.batchSize ?? 500;
    this.syncWait = opts.syncWait ?? DEFAULT_SYNC_WAIT;
    this.intervalMs = opts.intervalMs ?? 200;
    this.minBackoffMs = opts.minBackoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    if (typeof opts.redis === 'string' || 'kind' in opts.redis) {
      this.ownsRedis = true;
      const target: RedisTarget = typeof opts.redis === 'string' ? { kind: 'url', url: opts.redis } : opts.redis;
      this.redis = createRedis(target, {
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
    // Redis is back: the next pass runs now, not after the retry back-off (which reaches seconds
    // within an outage and would hold the backlog that long after the failover)
    this.redis.on('ready', () => {
      this.connects++;
      this.wake?.();
    });
    this.stream = { redis: this.redis, name: opts.stream, logger: opts.logger };
  }

  /**
   * One pass: if this instance holds the relay lock, publish up to `batchSize` settled rows in
   * (txid, id) order, each under its stream id, and mark them. After a (re)connect it first
   * resumes from the stream's last entry. Throws when Redis or the database fails (nothing lost),
   * and `ForeignStream` when the stream ends with an entry that is not of this outbox.
   */
  async publishOnce(): Promise<PassResult> {
    if (this.redis.status !== 'ready') throw new Error(`redis is ${this.redis.status}`);
    return inTransaction(
      this.opts.db,
      async (tx) => {
        // the setting rides on the lock's statement: no round trip of its own
        const [lock] = await query<{ ok: boolean; sync: string }>(
          tx,
          sql`select pg_try_advisory_xact_lock(${RELAY_LOCK.toString()}::bigint) as ok, current_setting('synchronous_standby_names') as sync`,
        );
        if (!lock?.ok) return { leader: false, published: 0 };
        // Writable primary only: this row lock fails with 25006 on a hot standby (or a read-only
        // primary) before anything reaches the stream. Rows read on a standby can be on a timeline
        // the failover discards (failover run 9 published one such event, read on a restarted
        // standby that was later rebuilt, before the cursor UPDATE failed).
        await query(tx, sql`select 1 from relay_cursor where id = 1 for update`);
        const connect = this.connects;
        let resumed = 0;
        let lost = false;
        if (this.checkedConnect !== connect) ({ republish: resumed, lost } = await resumeFromStream(this.stream, tx));
        // the rows above the cursor whose writers have all settled, in publication order (one index range)
        const rows = await query<OutboxRow>(tx, pendingRowsSql(this.batchSize));
        if (rows.length === 0) return { leader: true, published: 0, resumed, lost, connect };
        // under synchronous replication only rows the synchronous standby(s) have confirmed
        // (sync-standby.ts; failover run 9); throws, with nothing appended, when they do not
        await awaitSyncStandbys(tx, lock.sync, this.syncWait);
        const replies = await appendBatch(this.stream, this.opts.maxLen, rows);
        // the prefix that is in the stream (appended now, or refused as already there) is published
        let ok = 0;
        let present = 0;
        while (ok < rows.length && (replies[ok] === 1 || replies[ok] === 0)) {
          if (replies[ok] === 0) present++;
          ok++;
        }
        if (present > 0) await requireLastEntry(this.stream, tx, 'refused as already present');
        let at: Date | undefined;
        if (ok > 0) {
          // the prefix in the stream is published: move the cursor to its last row (one row, one update)
          const last = rows[ok - 1]!;
          const [marked] = await query<{ at: Date | string }>(
            tx,
            sql`update relay_cursor set txid = ${last.txid}::xid8, outbox_id = ${last.id}::bigint, published_at = ${nowSql(this.opts.clock)}
                where id = 1 returning published_at as at`,
          );
          if (marked) at = asDate(marked.at);
        }
        const result = { leader: true, published: ok, present, resumed, lost, connect, at };
        // commit what is in the stream, report the failure after the transaction
        if (ok < rows.length) return { ...result, error: new Error(String(replies[ok] ?? 'no reply from redis')) };
        return result;
      },
      0,
    ).then((r: PassResult & { error?: Error; present?: number; resumed?: number; lost?: boolean; connect?: number; at?: Date | undefined }) => {
      if (r.connect !== undefined) this.checkedConnect = r.connect;
      this.resumed += r.resumed ?? 0;
      if (r.lost) this.streamLost++;
      if (r.published > 0) {
        this.published += r.published;
        this.alreadyPresent += r.present ?? 0;
        this.lastPublishedAt = r.at ?? this.lastPublishedAt;
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
    const [row] = await query<{ n: number; age: number | null }>(this.opts.db, lagSql(this.opts.clock));
    return { unpublished: row?.n ?? 0, oldestAgeSeconds: Math.max(0, row?.age ?? 0) };
  }

  status(): RelayStatus {
    return {
      running: this.loopPromise !== undefined && !this.stopping,
      redis: this.redis.status,
      failing: this.failing,
      lastError: this.lastError,
      published: this.published,
      alreadyPresent: this.alreadyPresent,
      resumed: this.resumed,
      streamLost: this.streamLost,
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
      const connectsBefore = this.connects;
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
        if (err instanceof ForeignStream && err.message !== this.lastError) this.opts.logger?.error({ err: err.message }, 'outbox relay: cannot publish to this stream');
        if (err instanceof SyncStandbyUnconfirmed && !(this.lastError ?? '').includes('synchronous standby'))
          this.opts.logger?.warn({ err: err.message }, 'outbox relay: the synchronous standby has not confirmed the rows; they wait in the outbox');
        this.lastError = (err as Error).message;
        backoff = Math.min(this.maxBackoffMs, backoff === 0 ? this.minBackoffMs : backoff * 2);
        // Redis became ready while this pass ran (its wake-up found no pause to cut): retry at once
        wait = this.connects !== connectsBefore ? 0 : backoff / 2 + (Math.random() * backoff) / 2;
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

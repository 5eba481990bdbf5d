/**
 * The availability feed: `availability.changed` events for channels that keep listings in sync
 * without polling every SKU. A background publisher in every instance runs one pass per interval
 * (ATP_AVAILABILITY_INTERVAL_MS); each pass, in one REPEATABLE READ transaction (one snapshot):
 * 1. takes the pass lock (`pg_try_advisory_xact_lock`; an instance that does not get it skips)
 *    and reads the single state row: the outbox cursor, the rules version and channels of the
 *    last full scan, the instant of the last emission;
 * 2. skips when the last emission is less than the interval ago (coalescing: at most one event per
 *    SKU and channel per interval, across instances) or when this instance's rules are older
 *    than the ones the feed last used;
 * 3. finds the SKUs to look at: those named by outbox events since the cursor (every stock change
 *    writes one) and the kits made of them; or every stocked SKU, kit and SKU emitted before after
 *    a rules change, a new channel, a kit definition change, the first pass, or when the rows
 *    after the cursor were deleted by the outbox retention;
 * 4. computes `channel.available` per (SKU, channel) as GET /v1/atp does (availability-scan.ts)
 *    and writes one event per (SKU, channel) whose figure differs from the last one emitted, in
 *    the outbox (so the relay publishes it to the stream and GET /v1/events serves it), with the
 *    new cursor and the emitted figures — all reads first, then three writes, so the pass holds
 *    a transaction id (and the relay's xmin horizon) only for its last milliseconds.
 * Concurrency: the lock makes passes take turns; a pass that read the state before another's
 * commit fails on the state row's update (REPEATABLE READ: 40001) and writes nothing — so two
 * instances never emit the same change twice. Restarts: the cursor and the last figures are in
 * Postgres; a restarted publisher neither re-emits nor misses. Errors: a failed pass writes
 * nothing; the loop logs and retries at the next interval.
 */
import { pgArray } from '../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { asDate, type Clock, nowSql } from '../db/clock.js';
import { type Db, query, type Tx } from '../db/client.js';
import { errorCode } from '../db/errors.js';
import type { Logger } from '../logger.js';
import type { RulesStore } from '../rules/store.js';
import { emit } from './outbox.js';
import { channelFigures, channelsOf, changedFigures, type Cursor, emittedSkus, kitsOf, lastEmitted, pendingSkus, stockedSkus, subjectOf } from './availability-scan.js';
import { outboxEvent } from './types.js';

/** The advisory lock (per database) a pass holds. 'ATPAVAIL' as 8 bytes. */
export const AVAILABILITY_LOCK = 0x4154504156414c4cn;
/** SKUs per figures statement group in a pass. */
const CHUNK = 500;

export interface AvailabilityOptions {
  db: Db;
  rules: RulesStore;
  /** at most one event per (SKU, channel) per this many ms; also the loop's period */
  intervalMs: number;
  /** channels named by API keys (they get a figure even when the rules do not name them) */
  keyChannels?: () => Iterable<string>;
  /** most outbox rows one pass reads (the rest waits for the next) */
  maxRows?: number;
  logger?: Logger;
  /** tests only: the pass's instant (db/clock.ts) */
  clock?: Clock | undefined;
}

export type Skip = 'busy' | 'interval' | 'rules-behind' | 'rules-unavailable' | 'conflict' | 'idle';

export interface AvailabilityPass {
  /** why nothing was computed (undefined: the pass ran) */
  skipped?: Skip;
  /** every stocked SKU was looked at (rules or channels changed, first pass, retention gap) */
  full: boolean;
  skus: number;
  emitted: number;
}

interface StateRow {
  locked: boolean;
  now: Date | string;
  cursor_txid: string;
  cursor_id: string;
  rules_version: number;
  channels: string[] | string;
  last_emit_at: Date | string | null;
  cursor_retained: boolean;
  /** digest of the kit definitions at the last pass, and now (kit changes write no outbox event) */
  kits_digest: string;
  kits_now: string;
}

export class AvailabilityPublisher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = true;
  private passes = 0;
  private emitted = 0;
  private lastError: string | null = null;

  constructor(private readonly opts: AvailabilityOptions) {}

  /**
   * One pass (see the file header). Never emits the same (SKU, channel) twice within the
   * interval, and never twice for one change, whatever other instances do concurrently. Throws
   * on database errors (nothing written); a lost race is `skipped: 'conflict'`.
   */
  async publishOnce(): Promise<AvailabilityPass> {
    const rules = this.opts.rules;
    if (!rules.status().loaded) return { skipped: 'rules-unavailable', full: false, skus: 0, emitted: 0 };
    const doc = rules.current();
    try {
      const result = await this.opts.db.transaction((tx) => this.pass(tx as unknown as Tx, doc), { isolationLevel: 'repeatable read' });
      this.passes++;
      this.emitted += result.emitted;
      return result;
    } catch (err) {
      // another pass committed after this one's snapshot: it did the work
      if (errorCode(err) === '40001') return { skipped: 'conflict', full: false, skus: 0, emitted: 0 };
      throw err;
    }
  }

  private async pass(tx: Tx, doc: ReturnType<RulesStore['current']>): Promise<AvailabilityPass> {
    const skip = (skipped: Skip): AvailabilityPass => ({ skipped, full: false, skus: 0, emitted: 0 });
    const [state] = await query<StateRow>(
      tx,
      sql`select pg_try_advisory_xact_lock(${AVAILABILITY_LOCK.toString()}::bigint) as locked, ${nowSql(this.opts.clock)} as now,
            s.cursor_txid::text as cursor_txid, s.cursor_id::text as cursor_id, s.rules_version, s.channels, s.last_emit_at,
            (s.cursor_id = 0 or exists (select 1 from outbox o where o.txid = s.cursor_txid and o.id = s.cursor_id)) as cursor_retained,
            s.kits_digest, (select coalesce(md5(string_agg(kit_sku || '/' || component_sku || '/' || qty, ',' order by kit_sku, component_sku)), '')
                            from kit_components) as kits_now
          from availability_feed_state s where s.id = 1`,
    );
    if (!state?.locked) return skip('busy');
    const now = asDate(state.now);
    if (state.last_emit_at !== null && now.getTime() < asDate(state.last_emit_at).getTime() + this.opts.intervalMs) return skip('interval');
    if (doc.version < state.rules_version) return skip('rules-behind');
    const before: string[] = typeof state.channels === 'string' ? JSON.parse(state.channels) : state.channels;
    const channels = channelsOf(doc, this.opts.keyChannels?.() ?? [], before);
    const full = doc.version !== state.rules_version || channels.some((c) => !before.includes(c)) || !state.cursor_retained || state.kits_digest !== state.kits_now;

    const pending = await pendingSkus(tx, { txid: state.cursor_txid, id: state.cursor_id }, this.opts.maxRows ?? 100_000);
    if (!full && pending.rows === 0) return skip('idle');
    // after a retention gap the cursor row is gone: restart from what is still there
    const cursor: Cursor = !state.cursor_retained && pending.rows === 0 ? { txid: '0', id: '0' } : pending.cursor;
    const [stocked, kits, emittedBefore] = await Promise.all([
      stockedSkus(tx, full ? undefined : pending.skus),
      kitsOf(tx, full ? undefined : pending.skus),
      full ? emittedSkus(tx) : [],
    ]);
    const skus = [...new Set([...stocked, ...kits.keys(), ...emittedBefore])].sort();
    const changes = [];
    for (let i = 0; i < skus.length; i += CHUNK) {
      const chunk = skus.slice(i, i + CHUNK);
      const [figures, previous] = await Promise.all([channelFigures(tx, chunk, doc, channels, kits), lastEmitted(tx, chunk)]);
      changes.push(...changedFigures(figures, previous));
    }

    // writes: the state row first — a pass that read it before another pass committed fails here (40001)
    await query(
      tx,
      sql`update availability_feed_state set cursor_txid = ${cursor.txid}::xid8, cursor_id = ${cursor.id}::bigint,
            rules_version = ${doc.version}, channels = ${JSON.stringify(channels)}::jsonb, kits_digest = ${state.kits_now}, passes = passes + 1,
            last_emit_at = case when ${changes.length > 0} then ${now.toISOString()}::timestamptz else last_emit_at end
          where id = 1`,
    );
    if (changes.length > 0) {
      const asOf = now.toISOString();
      await emit(
        tx,
        changes.map((c) => outboxEvent('availability.changed', subjectOf(c), { sku: c.sku, channel: c.channel, available: c.available, previous: c.previous, rulesVersion: doc.version, asOf })),
        now,
      );
      await query(
        tx,
        sql`insert into availability_emitted (sku, channel, available, rules_version, emitted_at)
            select sku, channel, available, ${doc.version}, ${asOf}::timestamptz
            from unnest(${pgArray(changes.map((c) => c.sku))}::text[], ${pgArray(changes.map((c) => c.channel))}::text[], ${pgArray(changes.map((c) => c.available))}::int[])
              as d(sku, channel, available)
            on conflict (sku, channel) do update set available = excluded.available, rules_version = excluded.rules_version, emitted_at = excluded.emitted_at`,
      );
    }
    return { full, skus: skus.length, emitted: changes.length };
  }

  status() {
    return { running: !this.stopped, intervalMs: this.opts.intervalMs, passes: this.passes, emitted: this.emitted, lastError: this.lastError };
  }

  /** Run a pass every interval (idempotent). A failed pass is logged and retried at the next one. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      this.running = this.publishOnce()
        .then(() => {
          this.lastError = null;
        })
        .catch((err: Error) => {
          if (err.message !== this.lastError) this.opts.logger?.warn({ err: err.message }, 'availability feed: pass failed; retrying at the next interval');
          this.lastError = err.message;
        })
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  /** Stop the loop and wait for a pass in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}

/**
 * The front door of allocation: queues each reservation request in the lane of its SKU set
 * (natural batching, see batcher.ts) and runs each batch through `reserveBatch` under the rules
 * in force when the batch starts.
 *
 * Two fast refusals keep a flash sale from queueing into timeouts:
 * - sold-out memory (src/reads/sold-out.ts): a request for a SKU that a committed batch saw sold out is
 *   refused with 409 without taking any lock. It still costs one lock-free, batched read of the
 *   idempotency table (all such requests in flight share one statement): a retry of a request that
 *   WAS accepted must replay its 201, never turn into a 409 (invariant 4). A key that is in flight
 *   in this instance always takes the database path. Memory only ever refuses; it never accepts.
 * - the latency budget (batcher.ts): a request whose estimated queue wait exceeds the budget is
 *   refused with 429 + Retry-After before anything is written.
 */
import type { Db } from '../../db/client.js';
import { type Clock, ttlClock } from '../../db/clock.js';
import { DomainError, InsufficientStock, type ShortLine, Unavailable } from '../../domain/errors.js';
import { mapDatabaseError } from '../../db/errors.js';
import type { RulesStore } from '../../rules/store.js';
import { KeyedBatcher, SHARED_LANE } from './batcher.js';
import { findStored, type Replayed, replayBarrier, storedFor } from '../idempotency.js';
import type { ReservationDto } from './dto.js';
import type { RulesDocument } from '../../contract/rules.js';
import { type BatchReport, type LanePosition, type ReserveResult, reserveBatch } from './reserve.js';
import type { ReserveCommand } from './reserve-statement.js';
import { type GuardedSkip, reserveGuarded } from './reserve-guarded.js';
import { SoldOutMemory } from '../../reads/sold-out.js';

export interface AllocatorOptions {
  maxBatch: number;
  maxQueue: number;
  concurrency: number;
  retries: number;
  /** batches of one lane in flight at once (default 1) */
  laneConcurrency?: number;
  /** cold lanes (SKU sets) that may share one batch while they wait for a slot (batcher.ts; default 1: never) */
  mergeLanes?: number;
  /** shed requests whose estimated queue wait exceeds this (ms); undefined: only the queue bound */
  budgetMs?: number | undefined;
  /** how long a sold-out observation is trusted (ms); 0 disables the memory */
  soldOutTtlMs?: number;
  onBatch?: (info: { lane: string; size: number; waitedMs: number; ms: number }) => void;
  /** called after each committed batch with what it saw */
  onReport?: (report: BatchReport) => void;
  /** tests only: the instant batches are stamped with and the sold-out memory's clock (db/clock.ts) */
  clock?: Clock | undefined;
  /** decide hot batches in one guarded statement on the lane's predicted state (reserve-guarded.ts); default true */
  guarded?: boolean;
  /** runs each batch (e.g. inside a tracing span); default: run it directly */
  wrapBatch?: <T>(batch: readonly ReserveCommand[], run: () => Promise<T>) => Promise<T>;
}

export const laneOf = (cmd: Pick<ReserveCommand, 'lines'>) => {
  const first = cmd.lines[0]!.sku;
  if (cmd.lines.every((l) => l.sku === first)) return first;
  return [...new Set(cmd.lines.map((l) => l.sku))].sort().join('\n');
};

/**
 * The 409 for a request refused from memory, built without capturing a stack trace: it is an
 * expected answer, not a fault, and at flash-sale rates the capture was 3 % of the sold-out path.
 */
function soldOutError(short: ShortLine[]): InsufficientStock {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new InsufficientStock(short);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Run a batch; if it fails for a reason that is not transient (a value the database refused, a
 * bug), run its requests one by one so one bad request cannot fail the others that rode with it.
 * Transient failures (503: lock timeout, database unavailable) fail the batch as a whole: every
 * request gets the same retry-safe answer.
 */
export async function isolated(batch: readonly ReserveCommand[], run: (cmds: readonly ReserveCommand[]) => Promise<BatchReport>): Promise<BatchReport> {
  try {
    return await run(batch);
  } catch (err) {
    if (batch.length === 1 || (err instanceof Unavailable)) throw err;
    const results: ReserveResult[] = [];
    const skus = new Map<string, BatchReport['skus'][number]>();
    for (const cmd of batch) {
      try {
        const r = await run([cmd]);
        results.push(r.results[0]!);
        for (const s of r.skus) skus.set(s.sku, s);
      } catch (e) {
        // an unrecognised error stays what it is (the route answers 500 and logs it) — for this request only
        results.push({ ok: false, error: (mapDatabaseError(e) ?? e) as DomainError });
      }
    }
    return { results, skus: [...skus.values()] };
  }
}

const MAX_PREDICTIONS = 10_000;

const keyOf = (c: ReserveCommand) => `${c.caller}\u0000${c.idempotencyKey}`;

type ReplayCheck = { ok: true; replay: Replayed<ReservationDto> | undefined } | { ok: false; error: DomainError };

export class Allocator {
  private readonly batcher: KeyedBatcher<ReserveCommand, ReserveResult>;
  private readonly replays: KeyedBatcher<ReserveCommand, ReplayCheck>;
  private readonly inFlight = new Map<string, number>();
  /** per lane: every position of its SKUs as its last batch left them (a prediction: it never decides alone) */
  private readonly predictions = new Map<string, { positions: LanePosition[]; holds: Map<string, number>; seq: number }>();
  private predictionSeq = 0;
  /** guarded batches written, and why others were decided under locks */
  readonly guardedStats: Record<'statements' | GuardedSkip, number> = { statements: 0, 'no-prediction': 0, 'not-eligible': 0, refuses: 0, 'sells-out': 0, 'guard-failed': 0 };
  readonly soldOut: SoldOutMemory;

  constructor(
    private readonly db: Db,
    rules: RulesStore,
    opts: AllocatorOptions,
  ) {
    this.soldOut = new SoldOutMemory({ ttlMs: opts.soldOutTtlMs ?? 0, now: ttlClock(opts.clock) });
    this.batcher = new KeyedBatcher<ReserveCommand, ReserveResult>({
      maxBatch: opts.maxBatch,
      maxQueue: opts.maxQueue,
      concurrency: opts.concurrency,
      laneConcurrency: opts.laneConcurrency,
      mergeLanes: opts.mergeLanes,
      budgetMs: opts.budgetMs,
      dedupeKey: keyOf,
      onBatch: opts.onBatch,
      exec: async (batch, laneKey) => {
        const run = async () => {
          // rules that were never loaded (the latest stored version is not a valid document) are
          // the defaults, not the operator's rules: refuse, retry-safe, rather than allocate
          // without protection levels and caps (checked once per batch, not per request)
          if (!rules.status().loaded) throw new Unavailable('the channel rules in force could not be loaded (see /readyz); nothing was reserved, retry shortly', 5, 'rules-unavailable');
          const generation = this.soldOut.generation;
          const doc = rules.current();
          const before = this.predictionSeq;
          // a batch several cold lanes share is decided under locks (no lane's prediction covers it)
          const shared = laneKey === SHARED_LANE;
          const guarded = shared ? undefined : await this.guarded(db, doc, batch, laneKey, opts);
          const seq = guarded?.seq ?? before;
          const report = guarded?.report ?? (await isolated(batch, (cmds) => reserveBatch(db, doc, cmds, opts.retries, opts.clock)));
          // what the batch confirmed, unless a later batch of the lane was decided meanwhile (its prediction is newer)
          if (!shared) this.predict(laneKey, report.after, report.afterHolds, seq);
          for (const s of report.skus) {
            if (s.available <= 0) this.soldOut.mark(s.sku, generation);
            else this.soldOut.forget(s.sku);
          }
          opts.onReport?.(report);
          return report.results;
        };
        return opts.wrapBatch ? opts.wrapBatch(batch, run) : run();
      },
    });
    // one lock-free read of the idempotency table per batch of memory-refused requests
    this.replays = new KeyedBatcher<ReserveCommand, ReplayCheck>({
      maxBatch: 1000,
      maxQueue: opts.maxQueue,
      concurrency: 1,
      exec: async (batch) => {
        const stored = await findStored(db, batch.map((c) => ({ caller: c.caller, key: c.idempotencyKey })));
        return batch.map((c) => {
          try {
            return { ok: true, replay: storedFor<ReservationDto>(stored, { caller: c.caller, key: c.idempotencyKey, fingerprint: c.fingerprint }) };
          } catch (error) {
            return { ok: false, error: error as DomainError };
          }
        });
      },
    });
  }

  /**
   * The guarded single-statement path (reserve-guarded.ts) when the lane has a prediction; undefined
   * when the batch must be decided under locks. A transient failure (503) is the batch's answer, as
   * on the locked path; any other failure re-decides the batch under locks (which isolates a bad request).
   */
  private async guarded(db: Db, doc: RulesDocument, batch: readonly ReserveCommand[], laneKey: string, opts: AllocatorOptions): Promise<{ report: BatchReport; seq: number } | undefined> {
    if (opts.guarded === false) return undefined;
    const predicted = this.predictions.get(laneKey);
    let mine = 0;
    try {
      // the lane's next batch may decide on what this one will leave while this one is in flight
      const out = await reserveGuarded(db, doc, batch, predicted, opts.clock, (after, holds) => (mine = this.predict(laneKey, after, holds)));
      this.guardedStats[out.ok ? 'statements' : out.skip]++;
      if (!out.ok && out.skip === 'guard-failed') this.predictions.delete(laneKey);
      return out.ok ? { report: out.report, seq: mine } : undefined;
    } catch (err) {
      if (mine) this.predictions.delete(laneKey);
      if (err instanceof Unavailable) throw err;
      return undefined;
    }
  }

  /**
   * Remember what a lane's batch left or will leave (bounded: the oldest lanes are forgotten
   * first). A confirmed state (`after` of a finished batch, `newerThan` its own sequence number)
   * replaces the prediction only if no later batch of the lane has been decided since. Returns the
   * prediction's sequence number.
   */
  private predict(laneKey: string, after: BatchReport['after'], holds: BatchReport['afterHolds'], newerThan?: number): number {
    if (!after) return 0;
    const current = this.predictions.get(laneKey);
    if (newerThan !== undefined && current && current.seq > newerThan) return current.seq;
    const seq = ++this.predictionSeq;
    this.predictions.delete(laneKey);
    // holds of capped channels this batch did not touch stay as last predicted (a guard checks them anyway)
    const merged = new Map(current?.holds);
    for (const [k, v] of holds ?? []) merged.set(k, v);
    this.predictions.set(laneKey, { positions: after, holds: merged, seq });
    if (this.predictions.size > MAX_PREDICTIONS) this.predictions.delete(this.predictions.keys().next().value!);
    return seq;
  }

  async reserve(cmd: ReserveCommand): Promise<ReserveResult> {
    const key = keyOf(cmd);
    const short = this.inFlight.has(key) ? undefined : this.soldOut.shortLines(cmd);
    if (short) {
      const generation = this.soldOut.generation;
      const check = await this.replays.submit('', cmd);
      if (!check.ok) return { ok: false, error: check.error };
      if (check.replay) {
        await replayBarrier(this.db);
        return { ok: true, result: { reservation: check.replay.value, replayed: true, json: check.replay.json } };
      }
      // still nothing that could have added stock since the memory answered: refuse
      if (this.soldOut.generation === generation) return { ok: false, error: soldOutError(short) };
    }
    this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    try {
      return await this.batcher.submit(laneOf(cmd), cmd);
    } finally {
      const n = this.inFlight.get(key)! - 1;
      if (n === 0) this.inFlight.delete(key);
      else this.inFlight.set(key, n);
    }
  }

  /** Something may have added availability (restock, release, expiry, receipt, rules): forget sold-out SKUs. */
  invalidate(): void {
    this.soldOut.invalidate();
  }

  get depth() {
    return { ...this.batcher.depth, shed: this.batcher.shed, soldOutHits: this.soldOut.hits, soldOutSkus: this.soldOut.size };
  }

  /** Wait until every queued and in-flight batch has committed (graceful shutdown). */
  async drain(): Promise<void> {
    await this.replays.drain();
    await this.batcher.drain();
  }
}

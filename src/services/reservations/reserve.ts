/**
 * Where a reservation is allocated: `reserveBatch` takes a batch of reservation requests and
 * returns one outcome per request, in ONE transaction (a request alone is a batch of one; the
 * batcher feeds it bigger batches under load).
 *
 * Concurrency contract:
 * - every position of every SKU in the batch is locked with one `SELECT … ORDER BY sku, location
 *   FOR UPDATE` (the global lock order), open supply likewise after it; the decision
 *   (`decideBatch`, pure) is made on exactly those locked rows, so no other transaction can
 *   change them until this one commits; the CHECK constraints on positions and supply refuse an
 *   oversell even if the decision were wrong;
 * - all writes go in one statement (data-modifying CTEs, built by reserve-statement.ts):
 *   positions, supply, channel holds, reservations (carrying the Idempotency-Key, its fingerprint
 *   and the first answer), lines, allocations and outbox events — no ledger row (the ledger
 *   audits onHand; reserved is Σ active allocations) and no idempotency_keys row (the key is
 *   unique on the reservation);
 * - Idempotency-Keys already stored are answered as replays; a concurrent duplicate detected at
 *   insert (the unique (caller, key) index) rolls the batch back and retries it (bounded);
 *   deadlocks and serialization failures are retried; lock_timeout bounds every wait.
 * Time: one instant per transaction, Postgres time (or the test clock, db/clock.ts) read by the
 * first statement with the Idempotency-Key lookup; createdAt/updatedAt/expiresAt, every row's
 * timestamp and every event's time come from it, so the answer equals what is stored.
 * Errors: per-request domain errors (insufficient stock, channel limit, key reuse) are outcomes;
 * a database failure fails the whole batch with one mapped error (503 for outages/timeouts).
 */
import type { JsonText } from '../../contract/json-text.js';
import { sql } from 'drizzle-orm';
import type { Clock } from '../../db/clock.js';
import { type Db, query, type Tx } from '../../db/client.js';
import { inTransaction, RetryTransaction } from '../../db/tx.js';
import { availableOf, decideBatch, holdKey, type PositionState, type SupplyState } from '../../domain/allocate.js';
import type { DomainError } from '../../domain/errors.js';
import { hasCap } from '../../rules/policy.js';
import type { RulesDocument } from '../../contract/rules.js';
import { toState } from '../../reads/positions.js';
import type { ReservationDto } from './dto.js';
import { loadProjected, reorderCrossings, soldOutCrossings } from '../../events/stock.js';
import { emit } from '../../events/outbox.js';
import { pgArray } from '../../db/pg-array.js';
import { findStored, findStoredAt, type IdempotencyKey, replayBarrier, storedFor } from '../idempotency.js';
import { type ReserveCommand, Writes } from './reserve-statement.js';

// the command and the decided lines' rows are defined with the statement; the allocator and
// reserve-guarded.ts take them from here

/** A reservation made now, or the first answer to its Idempotency-Key (replayed); the route decides the status code. */
export interface Reserved {
  reservation: ReservationDto;
  replayed: boolean;
  /** `reservation` as JSON text, the bytes stored as its first answer (serialised once: the 201 and every replay send these) */
  json: JsonText<ReservationDto>;
}

export type ReserveResult = { ok: true; result: Reserved } | { ok: false; error: DomainError };

/** What the batch saw of each SKU after it committed (feeds the sold-out memory). */
export interface SkuAfter {
  sku: string;
  available: number;
}

/** A position of a lane's SKUs as a batch left it: the prediction the next guarded batch decides on (reserve-guarded.ts). */
export interface LanePosition extends PositionState {
  reorderPoint: number | null;
}

export interface BatchReport {
  results: ReserveResult[];
  skus: SkuAfter[];
  /** every position of the batch's SKUs after it committed (absent when it decided nothing) */
  after?: LanePosition[];
  /** what each capped channel of the batch holds of its SKUs after it committed, by holdKey(sku, channel) */
  afterHolds?: Map<string, number>;
}

interface PositionRow {
  sku: string;
  location: string;
  rank: number;
  on_hand: number;
  reserved: number;
  quality_hold: number;
  safety_stock: number;
  reorder_point: number | null;
  reorder_qty: number | null;
}

interface SupplyRow {
  id: string;
  sku: string;
  location: string;
  rank: number;
  free: number;
  expected_at: Date | string;
}


/** Reserve a batch in one transaction (see the file header); `clock` only in tests. */
export async function reserveBatch(db: Db, rules: RulesDocument, cmds: readonly ReserveCommand[], retries?: number, clock?: Clock): Promise<BatchReport> {
  return inTransaction(db, (tx) => reserveInTx(tx, rules, cmds, clock), retries);
}

async function reserveInTx(tx: Tx, rules: RulesDocument, cmds: readonly ReserveCommand[], clock: Clock | undefined): Promise<BatchReport> {
  const results: ReserveResult[] = new Array(cmds.length);
  const keyOf = (c: ReserveCommand): IdempotencyKey => ({ caller: c.caller, key: c.idempotencyKey, fingerprint: c.fingerprint });

  // 1–4 in ONE round trip (pipelined on the transaction's connection, executed in this order).
  // SKU lists are `= any(array)` so the planner uses the (sku, location) index; the earlier
  // `in (select jsonb_array_elements_text(…))` form planned a sequential scan of all positions.
  // the stored Idempotency-Keys (with the transaction's instant), then every position of every SKU in the batch locked in the global
  // order, then open inbound supply locked after positions when a request may backorder, then
  // what capped channels hold — read last, under the position AND supply locks, so even a SKU
  // with no position rows yet (a pre-order against inbound supply) is serialised before its
  // channel holds are read. Replayed requests are in the same lane
  // (same SKUs), so locking for the whole batch costs nothing extra.
  const skus = [...new Set(cmds.flatMap((c) => c.lines.map((l) => l.sku)))].sort();
  const capped = [...new Set(cmds.flatMap((c) => c.lines.filter((l) => hasCap(rules, l.sku, c.channel)).map((l) => holdKey(l.sku, c.channel))))];
  const backorderSkus = [...new Set(cmds.filter((c) => c.allowBackorder).flatMap((c) => c.lines.map((l) => l.sku)))].sort();
  const [{ stored, at }, positionRows, supplyRows, holdRows] = await Promise.all([
    findStoredAt(tx, cmds.map(keyOf), clock),
    query<PositionRow>(
      tx,
      sql`select p.sku, p.location, l.rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock, p.reorder_point, p.reorder_qty
          from positions p join locations l on l.id = p.location
          where p.sku = any(${pgArray(skus)}::text[])
          order by p.sku, p.location
          for update of p`,
    ),
    backorderSkus.length === 0
      ? Promise.resolve([])
      : query<SupplyRow>(
          tx,
          sql`select s.id, s.sku, s.location, l.rank, s.qty - s.received_qty - s.allocated_qty as free, s.expected_at
              from supply s join locations l on l.id = s.location
              where s.sku = any(${pgArray(backorderSkus)}::text[]) and s.status = 'open'
              order by s.sku, s.expected_at, s.id
              for update of s`,
        ),
    capped.length === 0
      ? Promise.resolve([])
      : query<{ sku: string; channel: string; reserved: number }>(
          tx,
          sql`select h.sku, h.channel, h.reserved from channel_holds h
              join unnest(${pgArray(capped.map((k) => k.split('\u0000')[0]!))}::text[], ${pgArray(capped.map((k) => k.split('\u0000')[1]!))}::text[]) as k(sku, channel)
                on k.sku = h.sku and k.channel = h.channel`,
        ),
  ]);

  // replays: keys already stored answer with the first response
  const fresh = answerStored(stored, cmds, cmds.map((_, i) => i), results);
  if (fresh.length === 0) {
    if (results.some((r) => r.ok)) await replayBarrier(tx);
    return { results, skus: [] };
  }

  const positions: PositionState[] = positionRows.map(toState);
  const holds = new Map<string, number>();
  for (const r of holdRows) holds.set(holdKey(r.sku, r.channel), r.reserved);
  const supplies: SupplyState[] = supplyRows.map((r) => ({ id: r.id, sku: r.sku, location: r.location, rank: r.rank, free: r.free, expectedAt: new Date(r.expected_at) }));

  // 5. decide (pure); overdue supply is promised from now: the transaction's instant, the
  // reservations' creation time (read with the Idempotency-Keys, db/clock.ts)
  const now = at;
  const decision = decideBatch(
    { positions, supplies, holds },
    rules,
    fresh.map((i) => ({ channel: cmds[i]!.channel, lines: cmds[i]!.lines, allowBackorder: cmds[i]!.allowBackorder })),
    now,
  );

  // 6. apply every accepted outcome in one statement, stamped with the transaction's instant
  const w = new Writes(now);
  fresh.forEach((i, k) => {
    const outcome = decision.outcomes[k]!;
    if (!outcome.ok) {
      results[i] = { ok: false, error: outcome.error };
      return;
    }
    const { body, json } = w.addReservation(cmds[i]!, rules.version, outcome.lines);
    results[i] = { ok: true, result: { reservation: body, replayed: false, json } };
  });
  // a refusal may come from the effect of its own key's first attempt (another batch or instance)
  // that committed while this batch waited for the locks: the lookup above ran before the wait, so
  // look once more (a new statement sees that commit) and answer with the first attempt's response
  const refused = fresh.filter((i) => !results[i]!.ok);
  if (refused.length > 0) answerStored(await findStored(tx, refused.map((i) => keyOf(cmds[i]!))), cmds, refused, results);
  const skusAfter: SkuAfter[] = skus.map((sku) => ({
    sku,
    available: decision.positions.filter((p) => p.sku === sku).reduce((s, p) => s + availableOf(p), 0),
  }));
  // replays answered by a transaction that writes nothing: make them durable first (idempotency.ts)
  if (w.count === 0 && results.some((r) => r?.ok && r.result.replayed)) await replayBarrier(tx);
  if (w.count > 0) {
    // sku.sold_out crossings caused by this batch (every position of these SKUs is locked)
    for (const e of soldOutCrossings(positions, decision.positions, now)) w.event(e);
    // reorder-point crossings: only when a position of these SKUs has a reorder point (two small reads)
    const reorderSkus = [...new Set(positionRows.filter((r) => r.reorder_point !== null).map((r) => r.sku))];
    const projectedBefore = await loadProjected(tx, reorderSkus);
    try {
      await query(tx, w.statement());
    } catch (err) {
      if (isUniqueViolation(err, 'reservations')) throw new RetryTransaction('a concurrent request stored the same Idempotency-Key');
      throw err;
    }
    if (reorderSkus.length > 0) await emit(tx, reorderCrossings(projectedBefore, await loadProjected(tx, reorderSkus), now), now);
  }
  const reorderOf = new Map(positionRows.map((r) => [`${r.sku}\u0000${r.location}`, r.reorder_point]));
  const after = decision.positions.map((p) => ({ ...p, reorderPoint: reorderOf.get(`${p.sku}\u0000${p.location}`) ?? null }));
  const afterHolds = new Map(capped.map((k) => [k, decision.holds.get(k) ?? 0]));
  return { results, skus: skusAfter, after, afterHolds };
}

/**
 * Answer the commands at `indices` whose Idempotency-Key is in `stored`: the first answer (a
 * replay), or 422 when the key was first used with another request. Returns the indices whose key
 * is not stored (their results are left as they were).
 */
export function answerStored(stored: Awaited<ReturnType<typeof findStored>>, cmds: readonly ReserveCommand[], indices: readonly number[], results: ReserveResult[]): number[] {
  const notStored: number[] = [];
  for (const i of indices) {
    const c = cmds[i]!;
    try {
      const replay = storedFor<ReservationDto>(stored, { caller: c.caller, key: c.idempotencyKey, fingerprint: c.fingerprint });
      if (replay) results[i] = { ok: true, result: { reservation: replay.value, replayed: true, json: replay.json } };
      else notStored.push(i);
    } catch (err) {
      results[i] = { ok: false, error: err as DomainError };
    }
  }
  return notStored;
}

/** A unique violation on `table` (postgres.js and PGlite errors, through drizzle's wrapper). */
function isUniqueViolation(err: unknown, table: string): boolean {
  let e = err as { code?: unknown; table_name?: unknown; table?: unknown; constraint_name?: unknown; constraint?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 4; depth++) {
    if (e.code === '23505') {
      const where = [e.table_name, e.table, e.constraint_name, e.constraint, e.message].map((x) => String(x ?? '')).join(' ');
      return where.includes(table);
    }
    e = e.cause as typeof e;
  }
  return false;
}

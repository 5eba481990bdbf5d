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
 * - all writes go in one statement (data-modifying CTEs): positions, supply, channel holds,
 *   reservations (carrying the Idempotency-Key, its fingerprint and the first answer), lines,
 *   allocations and outbox events — no ledger row (the ledger audits onHand; reserved is
 *   Σ active allocations) and no idempotency_keys row (the key is unique on the reservation);
 * - Idempotency-Keys already stored are answered as replays; a concurrent duplicate detected at
 *   insert (the unique (caller, key) index) rolls the batch back and retries it (bounded);
 *   deadlocks and serialization failures are retried; lock_timeout bounds every wait.
 * Time: one instant per transaction, Postgres time (or the test clock, db/clock.ts) read by the
 * first statement with the Idempotency-Key lookup; createdAt/updatedAt/expiresAt, every row's
 * timestamp and every event's time come from it, so the answer equals what is stored.
 * Errors: per-request domain errors (insufficient stock, channel limit, key reuse) are outcomes;
 * a database failure fails the whole batch with one mapped error (503 for outages/timeouts).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Clock } from '../../db/clock.js';
import { type Db, query, type Tx } from '../../db/client.js';
import { inTransaction, RetryTransaction } from '../../db/tx.js';
import {
  availableOf,
  decideBatch,
  holdKey,
  type LineRequest,
  type PlannedLine,
  type PositionState,
  type SupplyState,
} from '../../domain/allocate.js';
import type { DomainError } from '../../domain/errors.js';
import { hasCap } from '../../rules/policy.js';
import type { RulesDocument } from '../../contract/rules.js';
import { toState } from '../../reads/positions.js';
import { reservationDto, type AllocationRow, type LineRow, type ReservationDto, storedLines } from './dto.js';
import { loadProjected, reorderCrossings, soldOutCrossings } from '../../events/stock.js';
import { type OutboxEvent, outboxEvent } from '../../events/types.js';
import { emit } from '../../events/outbox.js';
import { pgArray } from '../../db/pg-array.js';
import { findStored, findStoredAt, type IdempotencyKey, replayBarrier, storedFor } from '../idempotency.js';

export interface ReserveCommand {
  caller: string;
  idempotencyKey: string;
  fingerprint: string;
  orderRef: string;
  channel: string;
  lines: LineRequest[];
  holdSeconds?: number | undefined;
  allowBackorder?: boolean | undefined;
}

/** A reservation made now, or the first answer to its Idempotency-Key (replayed); the route decides the status code. */
export interface Reserved {
  reservation: ReservationDto;
  replayed: boolean;
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

const json = (v: unknown) => sql`${JSON.stringify(v)}::jsonb`;

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
              join jsonb_to_recordset(${json(
                capped.map((k) => {
                  const [sku, channel] = k.split('\u0000');
                  return { sku, channel };
                }),
              )}) as k(sku text, channel text) on k.sku = h.sku and k.channel = h.channel`,
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
    const body = w.addReservation(cmds[i]!, rules.version, outcome.lines);
    results[i] = { ok: true, result: { reservation: body, replayed: false } };
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
      if (replay) results[i] = { ok: true, result: { reservation: replay.value, replayed: true } };
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

/** The lines and allocations of a reservation as stored and answered (reservationDto), from its decided lines. */
export function reservationRows(cmd: Pick<ReserveCommand, 'lines'>, planned: readonly PlannedLine[]): { lineRows: LineRow[]; allocRows: AllocationRow[] } {
  const lineRows: LineRow[] = planned.map((l) => {
    const src = cmd.lines[l.lineNo - 1];
    return {
      line_no: l.lineNo,
      sku: l.sku,
      qty: l.qty,
      location: l.location ?? null,
      status: l.status,
      ...(src?.kit ? { kit_sku: src.kit.sku, per_kit: src.kit.perKit } : {}),
      ...(src?.unit ? { unit: src.unit.name, unit_factor: src.unit.factor } : {}),
    };
  });
  const allocRows: AllocationRow[] = planned.flatMap((l) =>
    l.allocations.map((a) => ({
      line_no: l.lineNo,
      sku: l.sku,
      location: a.location,
      supply_id: a.supplyId ?? null,
      qty: a.qty,
      committed_qty: 0,
      released_qty: 0,
      promised_at: a.promisedAt ?? null,
    })),
  );
  return { lineRows, allocRows };
}

/** Accumulates the rows one batch writes, column by column, then renders them as one multi-CTE statement. */
class Writes {
  positions = new Map<string, { sku: string; location: string; delta: number }>();
  supplies = new Map<string, number>();
  holds = new Map<string, { sku: string; channel: string; delta: number }>();
  reservations = {
    id: [] as string[],
    orderRef: [] as string[],
    channel: [] as string[],
    holdSeconds: [] as (number | null)[],
    expiresAt: [] as (string | null)[],
    caller: [] as string[],
    key: [] as string[],
    fingerprint: [] as string[],
    answer: [] as string[],
    lines: [] as string[],
  };
  allocations = { reservationId: [] as string[], lineNo: [] as number[], sku: [] as string[], location: [] as string[], supplyId: [] as (string | null)[], qty: [] as number[], promisedAt: [] as (string | null)[] };
  events = { type: [] as string[], subject: [] as string[], data: [] as (string | null)[] };
  count = 0;
  private rulesVersion = 0;

  /** `now`: the transaction's instant, every row and answer of the batch carries it */
  constructor(private readonly now: Date) {}

  addReservation(cmd: ReserveCommand, rulesVersion: number, planned: PlannedLine[]): ReservationDto {
    const now = this.now;
    this.rulesVersion = rulesVersion;
    const id = randomUUID();
    const expiresAt = cmd.holdSeconds ? new Date(now.getTime() + cmd.holdSeconds * 1000) : null;
    const row = {
      id,
      order_ref: cmd.orderRef,
      channel: cmd.channel,
      status: 'held' as const,
      expires_at: expiresAt,
      rules_version: rulesVersion,
      created_at: now,
      updated_at: now,
    };
    const { lineRows, allocRows } = reservationRows(cmd, planned);
    const r = this.reservations;
    r.id.push(id);
    r.orderRef.push(cmd.orderRef);
    r.channel.push(cmd.channel);
    r.holdSeconds.push(cmd.holdSeconds ?? null);
    r.expiresAt.push(expiresAt ? expiresAt.toISOString() : null);
    r.caller.push(cmd.caller);
    r.key.push(cmd.idempotencyKey);
    r.lines.push(storedLines(lineRows));
    for (const a of allocRows) {
      const al = this.allocations;
      al.reservationId.push(id);
      al.lineNo.push(a.line_no);
      al.sku.push(a.sku);
      al.location.push(a.location);
      al.supplyId.push(a.supply_id);
      al.qty.push(a.qty);
      al.promisedAt.push(a.promised_at ? new Date(a.promised_at).toISOString() : null);
      if (a.supply_id) {
        this.supplies.set(a.supply_id, (this.supplies.get(a.supply_id) ?? 0) + a.qty);
      } else {
        const k = `${a.sku}\u0000${a.location}`;
        const p = this.positions.get(k) ?? { sku: a.sku, location: a.location, delta: 0 };
        p.delta += a.qty;
        this.positions.set(k, p);
      }
      const hk = holdKey(a.sku, cmd.channel);
      const h = this.holds.get(hk) ?? { sku: a.sku, channel: cmd.channel, delta: 0 };
      h.delta += a.qty;
      this.holds.set(hk, h);
    }
    const body = reservationDto(row, lineRows, allocRows);
    const bodyJson = JSON.stringify(body);
    // reservation.created refers to the reservation's stored answer (data NULL: the view outbox_event reads it)
    this.events.type.push('reservation.created');
    this.events.subject.push(id);
    this.events.data.push(null);
    const backorders = allocRows.filter((a) => a.supply_id);
    if (backorders.length > 0) {
      this.event(
        outboxEvent('backorder.promised', id, {
          backorders: backorders.map((a) => ({ lineNo: a.line_no, sku: a.sku, location: a.location, qty: a.qty, supplyId: a.supply_id!, promisedAt: a.promised_at ? new Date(a.promised_at).toISOString() : null })),
          reservation: body,
        }),
      );
    }
    r.fingerprint.push(cmd.fingerprint);
    r.answer.push(bodyJson);
    this.count++;
    return body;
  }

  event(e: OutboxEvent) {
    this.events.type.push(e.type);
    this.events.subject.push(e.subject);
    this.events.data.push(JSON.stringify(e.data));
  }

  /**
   * One statement for the whole batch. The reservations (with their keys) are inserted WITHOUT
   * "on conflict": a concurrent transaction that stored the same key makes this one fail with
   * 23505 (after waiting for it), the batch rolls back and is retried, and the retry replays the
   * stored answer.
   */
  statement() {
    const a = (v: readonly (string | number | null | undefined)[]) => pgArray(v);
    const r = this.reservations;
    const al = this.allocations;
    const e = this.events;
    const pos = [...this.positions.values()];
    const sup = [...this.supplies];
    const holds = [...this.holds.values()];
    const now = this.now.toISOString();
    return sql`with
      p as (update positions t set reserved = t.reserved + d.delta, updated_at = ${now}::timestamptz
            from unnest(${a(pos.map((x) => x.sku))}::text[], ${a(pos.map((x) => x.location))}::text[], ${a(pos.map((x) => x.delta))}::int[]) as d(sku, location, delta)
            where t.sku = d.sku and t.location = d.location returning 1),
      s as (update supply t set allocated_qty = t.allocated_qty + d.delta, updated_at = ${now}::timestamptz
            from unnest(${a(sup.map(([id]) => id))}::uuid[], ${a(sup.map(([, d]) => d))}::int[]) as d(id, delta)
            where t.id = d.id returning 1),
      h as (insert into channel_holds (sku, channel, reserved)
            select * from unnest(${a(holds.map((x) => x.sku))}::text[], ${a(holds.map((x) => x.channel))}::text[], ${a(holds.map((x) => x.delta))}::int[])
            on conflict (sku, channel) do update set reserved = channel_holds.reserved + excluded.reserved returning 1),
      r as (insert into reservations (id, order_ref, channel, status, hold_seconds, expires_at, rules_version, caller, idempotency_key, fingerprint, answer, lines, created_at, updated_at)
            select d.id, d.order_ref, d.channel, 'held', d.hold_seconds, d.expires_at, ${this.rulesVersion}::int, d.caller, d.key, d.fingerprint, d.answer, d.lines, ${now}::timestamptz, ${now}::timestamptz
            from unnest(${a(r.id)}::uuid[], ${a(r.orderRef)}::text[], ${a(r.channel)}::text[], ${a(r.holdSeconds)}::int[], ${a(r.expiresAt)}::timestamptz[],
                        ${a(r.caller)}::text[], ${a(r.key)}::text[], ${a(r.fingerprint)}::text[], ${a(r.answer)}::json[], ${a(r.lines)}::jsonb[])
                 as d(id, order_ref, channel, hold_seconds, expires_at, caller, key, fingerprint, answer, lines) returning 1),
      a as (insert into allocations (reservation_id, line_no, sku, location, supply_id, qty, committed_qty, released_qty, promised_at, created_at)
            select d.rid, d.line_no, d.sku, d.location, d.supply_id, d.qty, 0, 0, d.promised_at, ${now}::timestamptz
            from unnest(${a(al.reservationId)}::uuid[], ${a(al.lineNo)}::int[], ${a(al.sku)}::text[], ${a(al.location)}::text[], ${a(al.supplyId)}::uuid[],
                        ${a(al.qty)}::int[], ${a(al.promisedAt)}::timestamptz[]) as d(rid, line_no, sku, location, supply_id, qty, promised_at) returning 1),
      o as (insert into outbox (type, subject, data, created_at)
            select d.*, ${now}::timestamptz from unnest(${a(e.type)}::text[], ${a(e.subject)}::text[], ${a(e.data)}::jsonb[]) as d(type, subject, data) returning 1)
      select (select count(*) from r)::int as stored`;
  }
}

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
 *   reservations, lines, allocations, ledger, outbox events and idempotency rows;
 * - Idempotency-Keys already stored are answered as replays; a concurrent duplicate detected at
 *   insert rolls the batch back and retries it (bounded); deadlocks and serialization failures are
 *   retried; lock_timeout bounds every wait.
 * Errors: per-request domain errors (insufficient stock, channel limit, key reuse) are outcomes;
 * a database failure fails the whole batch with one mapped error (503 for outages/timeouts).
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { type Db, query, type Tx } from '../db/client.js';
import { inTransaction, RetryTransaction } from '../db/tx.js';
import {
  availableOf,
  decideBatch,
  holdKey,
  type LineRequest,
  type PlannedLine,
  type PositionState,
  type SupplyState,
} from '../domain/allocate.js';
import type { DomainError } from '../domain/errors.js';
import { hasCap } from '../rules/policy.js';
import type { RulesDocument } from '../rules/schema.js';
import { reservationDto, type AllocationRow, type LineRow, type ReservationDto } from './dto.js';
import { loadProjected, reorderCrossings, soldOutCrossings } from '../events/stock.js';
import { type OutboxEvent, outboxEvent } from '../events/types.js';
import { emit } from './allocation-changes.js';
import { findStored, type IdempotencyKey, type IdempotentResult, storedFor, storeResponsesSql } from './idempotency.js';

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

export type ReserveResult = { ok: true; result: IdempotentResult & { body: ReservationDto } } | { ok: false; error: DomainError };

/** What the batch saw of each SKU after it committed (feeds the sold-out memory). */
export interface SkuAfter {
  sku: string;
  available: number;
}

export interface BatchReport {
  results: ReserveResult[];
  skus: SkuAfter[];
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

export async function reserveBatch(db: Db, rules: RulesDocument, cmds: readonly ReserveCommand[], retries?: number): Promise<BatchReport> {
  return inTransaction(db, (tx) => reserveInTx(tx, rules, cmds), retries);
}

async function reserveInTx(tx: Tx, rules: RulesDocument, cmds: readonly ReserveCommand[]): Promise<BatchReport> {
  const results: ReserveResult[] = new Array(cmds.length);
  const keyOf = (c: ReserveCommand): IdempotencyKey => ({ caller: c.caller, key: c.idempotencyKey, fingerprint: c.fingerprint });

  // 1. replays: keys already stored answer with the first response
  const stored = await findStored(tx, cmds.map(keyOf));
  const fresh: number[] = [];
  cmds.forEach((c, i) => {
    try {
      const replay = storedFor(stored, keyOf(c));
      if (replay) results[i] = { ok: true, result: replay as IdempotentResult & { body: ReservationDto } };
      else fresh.push(i);
    } catch (err) {
      results[i] = { ok: false, error: err as DomainError };
    }
  });
  if (fresh.length === 0) return { results, skus: [] };

  // 2. lock every position of every SKU in the batch, in the global order
  const skus = [...new Set(fresh.flatMap((i) => cmds[i]!.lines.map((l) => l.sku)))].sort();
  const positionRows = await query<PositionRow>(
    tx,
    sql`select p.sku, p.location, l.rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock, p.reorder_point, p.reorder_qty
        from positions p join locations l on l.id = p.location
        where p.sku in (select jsonb_array_elements_text(${json(skus)}))
        order by p.sku, p.location
        for update of p`,
  );
  const positions: PositionState[] = positionRows.map((r) => ({
    sku: r.sku,
    location: r.location,
    rank: r.rank,
    onHand: r.on_hand,
    reserved: r.reserved,
    qualityHold: r.quality_hold,
    safetyStock: r.safety_stock,
  }));

  // 3. what capped channels already hold (protected by the position locks above)
  const capped = [...new Set(fresh.flatMap((i) => cmds[i]!.lines.filter((l) => hasCap(rules, l.sku, cmds[i]!.channel)).map((l) => holdKey(l.sku, cmds[i]!.channel))))];
  const holds = new Map<string, number>();
  if (capped.length > 0) {
    const pairs = capped.map((k) => {
      const [sku, channel] = k.split('\u0000');
      return { sku, channel };
    });
    const rows = await query<{ sku: string; channel: string; reserved: number }>(
      tx,
      sql`select h.sku, h.channel, h.reserved from channel_holds h
          join jsonb_to_recordset(${json(pairs)}) as k(sku text, channel text) on k.sku = h.sku and k.channel = h.channel`,
    );
    for (const r of rows) holds.set(holdKey(r.sku, r.channel), r.reserved);
  }

  // 4. open inbound supply, locked after positions, when a request may backorder
  let supplies: SupplyState[] = [];
  const backorderSkus = [...new Set(fresh.filter((i) => cmds[i]!.allowBackorder).flatMap((i) => cmds[i]!.lines.map((l) => l.sku)))].sort();
  if (backorderSkus.length > 0) {
    const rows = await query<SupplyRow>(
      tx,
      sql`select s.id, s.sku, s.location, l.rank, s.qty - s.received_qty - s.allocated_qty as free, s.expected_at
          from supply s join locations l on l.id = s.location
          where s.sku in (select jsonb_array_elements_text(${json(backorderSkus)})) and s.status = 'open'
          order by s.sku, s.expected_at, s.id
          for update of s`,
    );
    supplies = rows.map((r) => ({ id: r.id, sku: r.sku, location: r.location, rank: r.rank, free: r.free, expectedAt: new Date(r.expected_at) }));
  }

  // 5. decide (pure)
  const decision = decideBatch(
    { positions, supplies, holds },
    rules,
    fresh.map((i) => ({ channel: cmds[i]!.channel, lines: cmds[i]!.lines, allowBackorder: cmds[i]!.allowBackorder })),
  );

  // 6. apply every accepted outcome in one statement
  const now = new Date();
  const w = new Writes();
  fresh.forEach((i, k) => {
    const outcome = decision.outcomes[k]!;
    if (!outcome.ok) {
      results[i] = { ok: false, error: outcome.error };
      return;
    }
    const body = w.addReservation(cmds[i]!, rules.version, outcome.lines, now);
    results[i] = { ok: true, result: { status: 201, body, replayed: false } };
  });
  const skusAfter: SkuAfter[] = skus.map((sku) => ({
    sku,
    available: decision.positions.filter((p) => p.sku === sku).reduce((s, p) => s + availableOf(p), 0),
  }));
  if (w.reservations.length > 0) {
    // sku.sold_out crossings caused by this batch (every position of these SKUs is locked)
    w.events.push(...soldOutCrossings(positions, decision.positions, now));
    // reorder-point crossings: only when a position of these SKUs has a reorder point (two small reads)
    const reorderSkus = [...new Set(positionRows.filter((r) => r.reorder_point !== null).map((r) => r.sku))];
    const projectedBefore = await loadProjected(tx, reorderSkus);
    const inserted = await query<{ key: string }>(tx, w.statement());
    if (inserted.length !== w.idempotency.length) throw new RetryTransaction('a concurrent request stored the same Idempotency-Key');
    if (reorderSkus.length > 0) await emit(tx, reorderCrossings(projectedBefore, await loadProjected(tx, reorderSkus), now));
  }
  return { results, skus: skusAfter };
}

/** Accumulates the rows one batch writes, then renders them as one multi-CTE statement. */
class Writes {
  positions = new Map<string, { sku: string; location: string; delta: number }>();
  supplies = new Map<string, number>();
  holds = new Map<string, { sku: string; channel: string; delta: number }>();
  reservations: object[] = [];
  lines: object[] = [];
  allocations: object[] = [];
  ledger: object[] = [];
  events: OutboxEvent[] = [];
  idempotency: (IdempotencyKey & { status: number; body: unknown })[] = [];

  addReservation(cmd: ReserveCommand, rulesVersion: number, planned: PlannedLine[], now: Date): ReservationDto {
    const id = randomUUID();
    const expiresAt = cmd.holdSeconds ? new Date(now.getTime() + cmd.holdSeconds * 1000) : null;
    const row = {
      id,
      order_ref: cmd.orderRef,
      channel: cmd.channel,
      status: 'held' as const,
      hold_seconds: cmd.holdSeconds ?? null,
      expires_at: expiresAt,
      rules_version: rulesVersion,
      caller: cmd.caller,
      idempotency_key: cmd.idempotencyKey,
      created_at: now,
      updated_at: now,
    };
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
    this.reservations.push(row);
    for (const l of lineRows) this.lines.push({ reservation_id: id, ...l });
    for (const a of allocRows) {
      this.allocations.push({ reservation_id: id, ...a });
      if (a.supply_id) {
        this.supplies.set(a.supply_id, (this.supplies.get(a.supply_id) ?? 0) + a.qty);
      } else {
        const k = `${a.sku}\u0000${a.location}`;
        const p = this.positions.get(k) ?? { sku: a.sku, location: a.location, delta: 0 };
        p.delta += a.qty;
        this.positions.set(k, p);
        this.ledger.push({ sku: a.sku, location: a.location, delta_reserved: a.qty, reason: 'reserve', actor: cmd.caller, reservation_id: id });
      }
      const hk = holdKey(a.sku, cmd.channel);
      const h = this.holds.get(hk) ?? { sku: a.sku, channel: cmd.channel, delta: 0 };
      h.delta += a.qty;
      this.holds.set(hk, h);
    }
    const body = reservationDto(row, lineRows, allocRows);
    this.events.push(outboxEvent('reservation.created', id, { reservation: body }));
    const backorders = allocRows.filter((a) => a.supply_id);
    if (backorders.length > 0) {
      this.events.push(
        outboxEvent('backorder.promised', id, {
        backorders: backorders.map((a) => ({ lineNo: a.line_no, sku: a.sku, location: a.location, qty: a.qty, supplyId: a.supply_id!, promisedAt: a.promised_at ? new Date(a.promised_at).toISOString() : null })),
        reservation: body,
      }),
      );
    }
    this.idempotency.push({ caller: cmd.caller, key: cmd.idempotencyKey, fingerprint: cmd.fingerprint, status: 201, body });
    return body;
  }

  statement() {
    return sql`with
      p as (update positions t set reserved = t.reserved + d.delta, updated_at = now()
            from jsonb_to_recordset(${json([...this.positions.values()])}) as d(sku text, location text, delta int)
            where t.sku = d.sku and t.location = d.location returning 1),
      s as (update supply t set allocated_qty = t.allocated_qty + d.delta, updated_at = now()
            from jsonb_to_recordset(${json([...this.supplies].map(([id, delta]) => ({ id, delta })))}) as d(id uuid, delta int)
            where t.id = d.id returning 1),
      h as (insert into channel_holds (sku, channel, reserved)
            select sku, channel, delta from jsonb_to_recordset(${json([...this.holds.values()])}) as d(sku text, channel text, delta int)
            on conflict (sku, channel) do update set reserved = channel_holds.reserved + excluded.reserved returning 1),
      r as (insert into reservations (id, order_ref, channel, status, hold_seconds, expires_at, rules_version, caller, idempotency_key, created_at, updated_at)
            select * from jsonb_to_recordset(${json(this.reservations)}) as d(id uuid, order_ref text, channel text, status text, hold_seconds int,
              expires_at timestamptz, rules_version int, caller text, idempotency_key text, created_at timestamptz, updated_at timestamptz) returning 1),
      l as (insert into reservation_lines (reservation_id, line_no, sku, qty, location, status, kit_sku, per_kit, unit, unit_factor)
            select * from jsonb_to_recordset(${json(this.lines)}) as d(reservation_id uuid, line_no int, sku text, qty int, location text, status text,
              kit_sku text, per_kit int, unit text, unit_factor int) returning 1),
      a as (insert into allocations (reservation_id, line_no, sku, location, supply_id, qty, committed_qty, released_qty, promised_at)
            select * from jsonb_to_recordset(${json(this.allocations)}) as d(reservation_id uuid, line_no int, sku text, location text, supply_id uuid,
              qty int, committed_qty int, released_qty int, promised_at timestamptz) returning 1),
      g as (insert into ledger (sku, location, delta_reserved, reason, actor, reservation_id)
            select * from jsonb_to_recordset(${json(this.ledger)}) as d(sku text, location text, delta_reserved int, reason text, actor text, reservation_id uuid) returning 1),
      o as (insert into outbox (type, subject, data)
            select type, subject, data from jsonb_to_recordset(${json(this.events)}) as d(type text, subject text, data jsonb) returning 1),
      i as (${storeResponsesSql(this.idempotency)})
      select key from i`;
  }
}

/**
 * The write statement of a locked reservation batch (services/reservations/reserve.ts): the rows
 * a batch writes, accumulated column by column (`Writes`), rendered as ONE statement of
 * data-modifying CTEs over `unnest` arrays (db/pg-array.ts encodes the arrays): positions, supply,
 * channel holds, reservations (with key, fingerprint, answer and lines), allocations and outbox
 * rows, every row stamped with the transaction's instant. `reservationRows` turns decided lines
 * into the stored and answered lines and allocations (shared with reserve-guarded.ts).
 */
import { outboxInsert, type ReservationCreatedRef } from '../../events/outbox.js';
import { type JsonText, jsonText } from '../../contract/json-text.js';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { holdKey, type LineRequest, type PlannedLine } from '../../domain/allocate.js';
import { reservationDto, type AllocationRow, type LineRow, type ReservationDto, storedLines } from './dto.js';
import { type OutboxEvent, outboxEvent } from '../../events/types.js';
import { pgArray } from '../../db/pg-array.js';

/** One reservation request of a batch (built by the route; decided by reserve.ts or reserve-guarded.ts). */
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
export class Writes {
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
  events: (OutboxEvent | ReservationCreatedRef)[] = [];
  count = 0;
  private rulesVersion = 0;

  /** `now`: the transaction's instant, every row and answer of the batch carries it */
  constructor(private readonly now: Date) {}

  addReservation(cmd: ReserveCommand, rulesVersion: number, planned: PlannedLine[]): { body: ReservationDto; json: JsonText<ReservationDto> } {
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
    const bodyJson = jsonText(body);
    // reservation.created refers to the reservation's stored answer (data NULL: the view outbox_event reads it)
    this.events.push({ type: 'reservation.created', subject: id, data: null });
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
    return { body, json: bodyJson };
  }

  event(e: OutboxEvent) {
    this.events.push(e);
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
      o as (${outboxInsert(this.events, this.now)} returning 1)
      select (select count(*) from r)::int as stored`;
  }
}

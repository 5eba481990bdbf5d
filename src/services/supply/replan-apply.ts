/**
 * Locking around a set of allocations and writing a re-plan back: shared by supply receipts,
 * slips, cancels and short picks.
 *
 * Lock order (DESIGN.md): the affected reservations (by id) → every position of the SKU (by
 * location) → the SKU's open supply (by expected_at, id). The affected allocations are found
 * first without locks, their reservations locked, then the positions and supply; the
 * allocations are read again under the locks, and if a reservation that was not locked has
 * joined meanwhile (a backorder made in between), the transaction is retried.
 */
import { pgArray } from '../../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { query, type Tx } from '../../db/client.js';
import { RetryTransaction } from '../../db/tx.js';
import { holdKey } from '../../domain/allocate.js';
import type { AffectedReservation as AffectedSummary, AllocationMove } from '../../contract/supply.js';
import type { Replanned } from '../../domain/replan.js';
import { emit } from '../../events/outbox.js';
import { type AllocationRow, type LineRow, reservationDto, type ReservationDto, type ReservationRow } from '../reservations/dto.js';
import { type LoadedState, loadState } from './supply-state.js';


export interface ActiveAlloc {
  id: string;
  reservation_id: string;
  line_no: number;
  sku: string;
  location: string;
  supply_id: string | null;
  qty: number;
  promised_at: Date | string | null;
  channel: string;
  /** the line's pinned location */
  pin: string | null;
  res_created_at: Date | string;
}

/** Active allocations matching a condition, with their reservation's channel and line pin, oldest first. */
export async function activeAllocations(tx: Tx, where: ReturnType<typeof sql>): Promise<ActiveAlloc[]> {
  return query<ActiveAlloc>(
    tx,
    sql`select a.id::text as id, a.reservation_id::text as reservation_id, a.line_no, a.sku, a.location, a.supply_id::text as supply_id, a.qty,
               a.promised_at, r.channel, (select l->>'location' from jsonb_array_elements(r.lines) l where (l->>'line_no')::int = a.line_no) as pin,
               r.created_at as res_created_at
        from allocations a
        join reservations r on r.id = a.reservation_id
        where a.qty > 0 and (${where})
        order by a.id`,
  );
}

/**
 * Lock the reservations owning `find()`'s allocations, then the SKU's positions and open supply;
 * returns the locked state (its `now` is `at`, the transaction's instant) and the allocations as
 * they stand under the locks.
 */
export async function lockForChange(
  tx: Tx,
  sku: string,
  at: Date,
  find: () => Promise<ActiveAlloc[]>,
  extraReservations: readonly string[] = [],
): Promise<{ state: LoadedState; allocs: ActiveAlloc[] }> {
  const before = await find();
  const ids = [...new Set([...before.map((a) => a.reservation_id), ...extraReservations])].sort();
  if (ids.length > 0) await query(tx, sql`select id from reservations where id = any(${pgArray(ids)}::uuid[]) order by id for update`);
  const state = await loadState(tx, [sku], { lock: true, at });
  const allocs = await find();
  const locked = new Set(ids);
  if (allocs.some((a) => !locked.has(a.reservation_id))) throw new RetryTransaction('a reservation joined the affected allocations while locking');
  return { state, allocs };
}

/** Give displaced units back to the in-memory state before re-planning them. */
export function giveBack(state: LoadedState, items: readonly { alloc: ActiveAlloc; displaced: number }[]): void {
  for (const { alloc, displaced } of items) {
    if (displaced <= 0) continue;
    if (alloc.supply_id) {
      const s = state.supplies.find((x) => x.id === alloc.supply_id);
      if (s) s.free += displaced;
    } else {
      const p = state.positions.find((x) => x.sku === alloc.sku && x.location === alloc.location);
      if (p) p.reserved -= displaced;
    }
    const k = holdKey(alloc.sku, alloc.channel);
    state.holds.set(k, (state.holds.get(k) ?? 0) - displaced);
  }
}

/** A reservation a re-plan changed: the answer's summary (contract/supply.ts) and the reservation after the change. */
export type AffectedReservation = AffectedSummary & { reservation: ReservationDto };
export type { AllocationMove };

const iso = (d: Date | string | null | undefined) => (d == null ? undefined : new Date(d).toISOString());

/**
 * Write a re-plan: each displaced allocation gives up `displaced` units at its old source and
 * takes the planned allocations (merged into the old row when the source is the same), the rest
 * becomes short. Positions' reserved, supply's allocated, channel holds, line statuses,
 * one reservation_changes row and one outbox event per affected reservation — all in the
 * caller's transaction, which holds the locks (see lockForChange), stamped `at` (its instant).
 */
export async function applyReplan(
  tx: Tx,
  items: readonly { alloc: ActiveAlloc; displaced: number; plan: Replanned }[],
  reason: string,
  actor: string,
  at: Date,
  extra: Record<string, unknown> = {},
  /** the event for a reservation whose displaced units all went to inbound supply */
  allInbound: AffectedReservation['kind'] = 'backorder.repromised',
): Promise<AffectedReservation[]> {
  const pos = new Map<string, { sku: string; location: string; delta: number }>();
  const sup = new Map<string, number>();
  const holds = new Map<string, { sku: string; channel: string; delta: number }>();
  const updates: { id: string | number; qty: number; short_delta: number; promised_at: string | null }[] = [];
  const inserts: { reservation_id: string; line_no: number; sku: string; location: string; supply_id: string | null; qty: number; promised_at: Date | null }[] = [];
  const byRes = new Map<string, AllocationMove[]>();
  const addPos = (sku: string, location: string, delta: number) => {
    const k = `${sku}\u0000${location}`;
    const p = pos.get(k) ?? { sku, location, delta: 0 };
    p.delta += delta;
    pos.set(k, p);
  };
  for (const { alloc, displaced, plan } of items) {
    if (displaced <= 0) continue;
    let keepQty = alloc.qty - displaced;
    let keepPromised: Date | string | null = alloc.promised_at;
    if (alloc.supply_id) sup.set(alloc.supply_id, (sup.get(alloc.supply_id) ?? 0) - displaced);
    else addPos(alloc.sku, alloc.location, -displaced);
    let merged = false;
    const to: AllocationMove['to'] = [];
    for (const a of plan.allocations) {
      if (a.supplyId) sup.set(a.supplyId, (sup.get(a.supplyId) ?? 0) + a.qty);
      else addPos(alloc.sku, a.location, a.qty);
      if (!merged && (a.supplyId ?? null) === alloc.supply_id && a.location === alloc.location) {
        keepQty += a.qty;
        keepPromised = a.promisedAt ?? null;
        merged = true;
      } else {
        inserts.push({ reservation_id: alloc.reservation_id, line_no: alloc.line_no, sku: alloc.sku, location: a.location, supply_id: a.supplyId ?? null, qty: a.qty, promised_at: a.promisedAt ?? null });
      }
      to.push({ location: a.location, qty: a.qty, ...(a.supplyId ? { supplyId: a.supplyId } : {}), ...(a.promisedAt ? { promisedAt: a.promisedAt.toISOString() } : {}) });
    }
    if (plan.shortQty > 0) {
      const k = holdKey(alloc.sku, alloc.channel);
      const h = holds.get(k) ?? { sku: alloc.sku, channel: alloc.channel, delta: 0 };
      h.delta -= plan.shortQty;
      holds.set(k, h);
    }
    updates.push({ id: alloc.id, qty: keepQty, short_delta: plan.shortQty, promised_at: keepPromised == null ? null : new Date(keepPromised).toISOString() });
    const moves = byRes.get(alloc.reservation_id) ?? [];
    moves.push({
      from: { location: alloc.location, qty: displaced, ...(alloc.supply_id ? { supplyId: alloc.supply_id } : {}), ...(alloc.promised_at ? { promisedAt: iso(alloc.promised_at) } : {}) },
      to,
      shortQty: plan.shortQty,
    });
    byRes.set(alloc.reservation_id, moves);
  }
  if (updates.length === 0) return [];

  await query(
    tx,
    sql`update allocations t set qty = d.qty, short_qty = t.short_qty + d.short_delta, promised_at = d.promised_at
        from unnest(${pgArray(updates.map((u) => u.id))}::bigint[], ${pgArray(updates.map((u) => u.qty))}::int[], ${pgArray(updates.map((u) => u.short_delta))}::int[],
                    ${pgArray(updates.map((u) => u.promised_at))}::timestamptz[]) as d(id, qty, short_delta, promised_at)
        where t.id = d.id`,
  );
  if (inserts.length > 0) {
    await query(
      tx,
      sql`insert into allocations (reservation_id, line_no, sku, location, supply_id, qty, promised_at, created_at)
          select d.*, ${at.toISOString()}::timestamptz
          from unnest(${pgArray(inserts.map((i) => i.reservation_id))}::uuid[], ${pgArray(inserts.map((i) => i.line_no))}::int[], ${pgArray(inserts.map((i) => i.sku))}::text[],
                      ${pgArray(inserts.map((i) => i.location))}::text[], ${pgArray(inserts.map((i) => i.supply_id))}::uuid[], ${pgArray(inserts.map((i) => i.qty))}::int[],
                      ${pgArray(inserts.map((i) => i.promised_at?.toISOString() ?? null))}::timestamptz[]) as d(reservation_id, line_no, sku, location, supply_id, qty, promised_at)`,
    );
  }
  await applyPositionSupplyHolds(tx, [...pos.values()], [...sup].map(([id, delta]) => ({ id, delta })), [...holds.values()], at);
  return finishReservations(tx, byRes, reason, actor, at, extra, undefined, allInbound);
}

/** Positions' reserved, supply's allocated and channel holds, stamped `at` (reserved moves are not ledgered: the ledger audits onHand). */
export async function applyPositionSupplyHolds(
  tx: Tx,
  pos: readonly { sku: string; location: string; delta: number }[],
  sup: readonly { id: string; delta: number }[],
  holds: readonly { sku: string; channel: string; delta: number }[],
  at: Date,
): Promise<void> {
  const now = sql`${at.toISOString()}::timestamptz`;
  // decreases first so that the CHECK constraints hold after each statement
  const posSorted = [...pos].filter((p) => p.delta !== 0);
  if (posSorted.length > 0) {
    await query(
      tx,
      sql`update positions t set reserved = t.reserved + d.delta, updated_at = ${now}
          from unnest(${pgArray(posSorted.map((x) => x.sku))}::text[], ${pgArray(posSorted.map((x) => x.location))}::text[], ${pgArray(posSorted.map((x) => x.delta))}::int[]) as d(sku, location, delta)
          where t.sku = d.sku and t.location = d.location`,
    );
  }
  const supReal = sup.filter((s) => s.delta !== 0);
  if (supReal.length > 0) {
    await query(
      tx,
      sql`update supply t set allocated_qty = t.allocated_qty + d.delta, updated_at = ${now}
          from unnest(${pgArray(supReal.map((x) => x.id))}::uuid[], ${pgArray(supReal.map((x) => x.delta))}::int[]) as d(id, delta) where t.id = d.id`,
    );
  }
  const holdReal = holds.filter((h) => h.delta !== 0);
  if (holdReal.length > 0) {
    await query(
      tx,
      sql`update channel_holds t set reserved = greatest(0, t.reserved + d.delta)
          from unnest(${pgArray(holdReal.map((x) => x.sku))}::text[], ${pgArray(holdReal.map((x) => x.channel))}::text[], ${pgArray(holdReal.map((x) => x.delta))}::int[]) as d(sku, channel, delta)
          where t.sku = d.sku and t.channel = d.channel`,
    );
  }
}

/**
 * Recompute line statuses (short > backordered > allocated), touch the reservations, and record
 * one change row and one outbox event per reservation — all stamped `at`.
 */
export async function finishReservations(
  tx: Tx,
  byRes: Map<string, AllocationMove[]>,
  reason: string,
  actor: string,
  at: Date,
  extra: Record<string, unknown> = {},
  forceKind?: AffectedReservation['kind'],
  allInbound: AffectedReservation['kind'] = 'backorder.repromised',
): Promise<AffectedReservation[]> {
  const ids = [...byRes.keys()].sort();
  if (ids.length === 0) return [];
  const now = sql`${at.toISOString()}::timestamptz`;
  // each line's status from its allocations now (a line without allocations keeps its own), on the reservation row
  await query(
    tx,
    sql`update reservations r set updated_at = ${now}, lines = (
          select coalesce(jsonb_agg(case when s.line_no is null then l.v
                                         else jsonb_set(l.v, '{status}', to_jsonb(case when s.short > 0 then 'short' when s.backordered > 0 then 'backordered' else 'allocated' end))
                                    end order by (l.v->>'line_no')::int), '[]')
          from jsonb_array_elements(r.lines) l(v)
          left join (select line_no, sum(short_qty) as short, sum(case when supply_id is not null then qty else 0 end) as backordered
                     from allocations a where a.reservation_id = r.id group by line_no) s on s.line_no = (l.v->>'line_no')::int)
        where r.id = any(${pgArray(ids)}::uuid[])`,
  );
  // a held reservation that no longer holds anything (every unit short) is settled like a release:
  // held ⇔ something is held (the stock-control invariant); its lines stay 'short' to say why
  await query(
    tx,
    sql`update reservations r set status = case when exists (select 1 from allocations a where a.reservation_id = r.id and a.committed_qty > 0) then 'committed' else 'released' end
        where r.id = any(${pgArray(ids)}::uuid[]) and r.status = 'held'
          and not exists (select 1 from allocations a where a.reservation_id = r.id and a.qty > 0)`,
  );
  const dtos = await loadDtos(tx, ids);
  const out: AffectedReservation[] = [];
  for (const id of ids) {
    const moves = byRes.get(id)!;
    const kind: AffectedReservation['kind'] =
      forceKind ??
      (moves.some((m) => m.shortQty > 0)
        ? 'allocation.short'
        : moves.every((m) => m.to.every((t) => t.supplyId))
          ? allInbound
          : 'allocation.resourced');
    const reservation = dtos.get(id)!;
    out.push({ reservationId: id, kind, moves, reservation });
  }
  await query(
    tx,
    sql`insert into reservation_changes (reservation_id, kind, reason, detail, created_at)
        select d.reservation_id, d.kind, ${reason}, d.detail, ${now}
        from unnest(${pgArray(out.map((o) => o.reservationId))}::uuid[], ${pgArray(out.map((o) => o.kind))}::text[],
                    ${pgArray(out.map((o) => JSON.stringify({ moves: o.moves, actor, ...extra })))}::jsonb[]) as d(reservation_id, kind, detail)`,
  );
  await emit(
    tx,
    out.map((o) => ({ type: o.kind, subject: o.reservationId, data: { reason, ...extra, moves: o.moves, reservation: o.reservation } })),
    at,
  );
  return out;
}

/** The DTOs of several reservations in three queries (a receipt may touch hundreds). */
async function loadDtos(tx: Tx, ids: readonly string[]): Promise<Map<string, ReservationDto>> {
  const list = sql`${pgArray(ids)}::uuid[]`;
  const rows = await query<ReservationRow>(
    tx,
    sql`select id::text as id, order_ref, channel, status, expires_at, rules_version, created_at, updated_at
        from reservations where id = any(${list})`,
  );
  const lines = await query<LineRow & { reservation_id: string }>(
    tx,
    // every column: lines carry whatever other features record on them (kit, unit, …)
    sql`select * from reservation_lines where reservation_id = any(${list}) order by reservation_id, line_no`,
  );
  const allocs = await query<AllocationRow & { reservation_id: string }>(
    tx,
    sql`select reservation_id::text as reservation_id, id::text as id, line_no, sku, location, supply_id::text as supply_id, qty, committed_qty,
               released_qty, short_qty, promised_at
        from allocations where reservation_id = any(${list}) order by id`,
  );
  return new Map(
    rows.map((r) => [
      r.id,
      reservationDto(
        r,
        lines.filter((l) => l.reservation_id === r.id),
        allocs.filter((a) => a.reservation_id === r.id),
      ),
    ]),
  );
}

/**
 * Inbound supply verbs: create, update (slip / quantity change), cancel, receive.
 *
 * Concurrency: every verb that touches existing supply runs in one transaction that locks, in the
 * global order, the reservations holding backorders on that supply, then every position of the
 * SKU, then the SKU's open supply (see replan-apply.ts lockForChange); reserveBatch locks
 * positions then supply, so receipts, slips and cancels serialise with backorder reservations on
 * the same SKU and the CHECK `allocated_qty + received_qty <= qty` can never be broken.
 * Errors: 404 unknown supply; 409 invalid-state (not open), over-receipt, qty below received.
 *
 * Effects on reservations (each recorded in reservation_changes and emitted to the outbox):
 * - receipt: backordered allocations against the supply become on-hand allocations in promise
 *   order (oldest promise first) — `backorder.filled`;
 * - slip later: every backorder on it is re-planned in promise order (earlier supply or stock on
 *   hand if any, else this supply at its new date) — `backorder.repromised` / `allocation.resourced`;
 *   moved earlier: promise dates move with it;
 * - quantity cut below received + allocated: the newest promises lose first and are re-planned;
 * - cancel: every backorder on it is re-planned; what nothing covers becomes short — `allocation.short`.
 * Time: every verb gets its transaction's instant `at` (read with the Idempotency-Key, db/clock.ts);
 * createdAt/updatedAt in answers are what the writing statement RETURNED with it.
 */
import { pgArray } from '../../db/pg-array.js';
import { recordLedger } from '../ledger.js';
import { stockChangeEvents, stockSnapshot } from '../../events/stock.js';
import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { type Exec, query, type Reader, type Tx } from '../../db/client.js';
import { InvalidState, NotFound, OverReceipt } from '../../domain/errors.js';
import { promiseDate } from '../../domain/allocate.js';
import { replan } from '../../domain/replan.js';
import type { RulesDocument } from '../../contract/rules.js';
import type { CancelSupply, CreateSupply, Receipt, ReceiptRequest, ReservationChange, Supply, SupplyChange, UpdateSupply } from '../../contract/supply.js';
import { emit } from '../../events/outbox.js';
import { refuseKits } from '../stock/inventory.js';
import {
  type ActiveAlloc,
  activeAllocations,
  type AffectedReservation,
  type AllocationMove,
  applyPositionSupplyHolds,
  applyReplan,
  finishReservations,
  giveBack,
  lockForChange,
} from './replan-apply.js';
import type { SupplyRowFull } from './supply-state.js';
import { reservationChanges as changesTable, supply as supplyTable } from '../../db/schema.js';

export const supplyDto = (r: Omit<SupplyRowFull, 'rank'>): Supply => ({
  id: r.id,
  sku: r.sku,
  location: r.location,
  kind: r.kind,
  reference: r.reference,
  qty: r.qty,
  receivedQty: r.received_qty,
  allocatedQty: r.allocated_qty,
  freeQty: r.status === 'open' ? r.qty - r.received_qty - r.allocated_qty : 0,
  expectedAt: new Date(r.expected_at).toISOString(),
  status: r.status,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

/** The request (contract/supply.ts CreateSupply) with its instant parsed. */
export type CreateSupplyInput = Omit<CreateSupply, 'expectedAt'> & { expectedAt: Date };

/** Register inbound supply (creating its location on first use); answers the stored row. */
export async function createSupply(tx: Tx, input: CreateSupplyInput, actor: string, at: Date): Promise<Supply> {
  await refuseKits(tx, [{ sku: input.sku, field: 'body.sku' }]);
  const now = at.toISOString();
  await query(tx, sql`insert into locations (id, created_at) values (${input.location}, ${now}::timestamptz) on conflict (id) do nothing`);
  const [row] = await query<SupplyRowFull>(
    tx,
    sql`insert into supply (id, sku, location, kind, reference, qty, expected_at, created_at, updated_at)
        values (${randomUUID()}, ${input.sku}, ${input.location}, ${input.kind ?? 'po'}, ${input.reference ?? null}, ${input.qty}, ${input.expectedAt.toISOString()},
                ${now}::timestamptz, ${now}::timestamptz)
        returning *`,
  );
  const body = supplyDto(row!);
  await emit(tx, [{ type: 'supply.created', subject: body.id, data: { supply: body, actor } }], at);
  return body;
}

async function readSupply(exec: Exec, id: string, lock = false): Promise<SupplyRowFull> {
  const [row] = await query<SupplyRowFull>(exec, lock ? sql`select s.*, 0 as rank from supply s where id = ${id} for update` : sql`select s.*, 0 as rank from supply s where id = ${id}`);
  if (!row) throw new NotFound('supply', id);
  return row;
}

/**
 * A supply row for the query builder, under its column names: the shape `supplyDto` reads, as the
 * write path's `returning *` gives it (timestamps as Date here, as text there: supplyDto takes both).
 */
const supplyRow = {
  id: supplyTable.id,
  sku: supplyTable.sku,
  location: supplyTable.location,
  kind: supplyTable.kind,
  reference: supplyTable.reference,
  qty: supplyTable.qty,
  received_qty: supplyTable.receivedQty,
  allocated_qty: supplyTable.allocatedQty,
  expected_at: supplyTable.expectedAt,
  status: supplyTable.status,
  created_at: supplyTable.createdAt,
  updated_at: supplyTable.updatedAt,
};

/** One supply (GET /v1/supply/{id}); 404 when there is none. */
export async function getSupply(db: Reader, id: string): Promise<Supply> {
  const [row] = await db.select(supplyRow).from(supplyTable).where(eq(supplyTable.id, id));
  if (!row) throw new NotFound('supply', id);
  return supplyDto(row);
}

/** Supply by SKU and expected date (GET /v1/supply), optionally of one SKU and/or one status. */
export async function listSupply(db: Reader, f: { sku?: string | undefined; status?: Supply['status'] | undefined; limit: number }): Promise<Supply[]> {
  const rows = await db
    .select(supplyRow)
    .from(supplyTable)
    .where(and(f.sku === undefined ? undefined : eq(supplyTable.sku, f.sku), f.status === undefined ? undefined : eq(supplyTable.status, f.status)))
    .orderBy(supplyTable.sku, supplyTable.expectedAt, supplyTable.id)
    .limit(f.limit);
  return rows.map(supplyDto);
}

/** Lock everything a change to this supply touches; the supply must be open. */
async function lockSupply(tx: Tx, id: string, at: Date) {
  const first = await readSupply(tx, id);
  const { state, allocs } = await lockForChange(tx, first.sku, at, () => activeAllocations(tx, sql`a.supply_id = ${id}`));
  const row = await readSupply(tx, id, true);
  return { row, state, allocs };
}

export type ReceiptInput = ReceiptRequest;

/**
 * Receive (part of) a supply: onHand += qty with a `receipt` ledger row; backorders against it are
 * filled in promise order (their allocations become on-hand; reserved += filled).
 */
export async function receiveSupply(tx: Tx, id: string, input: ReceiptInput, actor: string, at: Date): Promise<SupplyChange & { receipt: Receipt }> {
  const now = sql`${at.toISOString()}::timestamptz`;
  const { row, allocs } = await lockSupply(tx, id, at);
  if (row.status !== 'open') throw new InvalidState(`supply ${id} is ${row.status}; only open supply can be received`, { supplyStatus: row.status });
  const remaining = row.qty - row.received_qty;
  if (input.qty > remaining) {
    throw new OverReceipt(`supply ${id} expects ${remaining} more units; a receipt of ${input.qty} would count stock twice (raise qty first if more arrived)`, { remaining });
  }
  // the position may not exist yet (first stock at this location); its row lock joins the ones held
  await query(tx, sql`insert into positions (sku, location, updated_at) values (${row.sku}, ${row.location}, ${now}) on conflict (sku, location) do nothing`);
  await query(tx, sql`select 1 from positions where sku = ${row.sku} and location = ${row.location} for update`);

  let left = input.qty;
  let filled = 0;
  const fills: { alloc: ActiveAlloc; qty: number }[] = [];
  for (const a of allocs) {
    if (left === 0) break;
    const f = Math.min(a.qty, left);
    fills.push({ alloc: a, qty: f });
    left -= f;
    filled += f;
  }
  const whole = fills.filter((f) => f.qty === f.alloc.qty).map((f) => ({ id: f.alloc.id }));
  const part = fills.filter((f) => f.qty < f.alloc.qty);
  if (whole.length > 0) {
    await query(tx, sql`update allocations t set supply_id = null, promised_at = null where t.id = any(${pgArray(whole.map((w) => w.id))}::bigint[])`);
  }
  if (part.length > 0) {
    await query(
      tx,
      sql`update allocations t set qty = t.qty - d.q from unnest(${pgArray(part.map((p) => p.alloc.id))}::bigint[], ${pgArray(part.map((p) => p.qty))}::int[]) as d(id, q) where t.id = d.id`,
    );
    await query(
      tx,
      sql`insert into allocations (reservation_id, line_no, sku, location, qty, created_at)
          select d.*, ${now}
          from unnest(${pgArray(part.map((p) => p.alloc.reservation_id))}::uuid[], ${pgArray(part.map((p) => p.alloc.line_no))}::int[], ${pgArray(part.map((p) => p.alloc.sku))}::text[],
                      ${pgArray(part.map((p) => p.alloc.location))}::text[], ${pgArray(part.map((p) => p.qty))}::int[]) as d(reservation_id, line_no, sku, location, qty)`,
    );
  }
  const status = row.received_qty + input.qty === row.qty ? 'received' : 'open';
  const [after] = await query<SupplyRowFull>(
    tx,
    sql`update supply set received_qty = received_qty + ${input.qty}, allocated_qty = allocated_qty - ${filled}, status = ${status}, updated_at = ${now}
        where id = ${id} returning *, 0 as rank`,
  );
  await query(tx, sql`update positions set on_hand = on_hand + ${input.qty}, updated_at = ${now} where sku = ${row.sku} and location = ${row.location}`);
  await recordLedger(tx, [{ sku: row.sku, location: row.location, deltaOnHand: input.qty, reason: 'receipt', ref: `supply:${id}${input.reference ? `:${input.reference}` : ''}` }], actor, at);
  await applyPositionSupplyHolds(
    tx,
    [{ sku: row.sku, location: row.location, delta: filled }],
    [],
    [],
    at,
  );
  const byRes = new Map<string, AllocationMove[]>();
  for (const f of fills) {
    const m = byRes.get(f.alloc.reservation_id) ?? [];
    m.push({
      from: { location: f.alloc.location, supplyId: id, qty: f.qty, ...(f.alloc.promised_at ? { promisedAt: new Date(f.alloc.promised_at).toISOString() } : {}) },
      to: [{ location: f.alloc.location, qty: f.qty }],
      shortQty: 0,
    });
    byRes.set(f.alloc.reservation_id, m);
  }
  const affected = await finishReservations(tx, byRes, 'receipt', actor, at, { supplyId: id }, 'backorder.filled');
  const supply = supplyDto(after!);
  const receipt = { supplyId: id, qty: input.qty, reference: input.reference ?? null, filledBackorders: filled, toStock: input.qty - filled };
  await emit(tx, [{ type: 'supply.received', subject: id, data: { receipt, supply, actor } }], at);
  return { receipt, supply, affected: affected.map(summary) };
}

const summary = (a: AffectedReservation): SupplyChange['affected'][number] => ({ reservationId: a.reservationId, kind: a.kind, moves: a.moves });

/** The request (contract/supply.ts UpdateSupply) with its instant parsed; `reason` (e.g. "vendor delay") is recorded on affected reservations. */
export type UpdateSupplyInput = Omit<UpdateSupply, 'expectedAt'> & { expectedAt?: Date | undefined };

/** Slip or advance the expected date, change the quantity; re-promise the backorders it affects. */
export async function updateSupply(tx: Tx, id: string, input: UpdateSupplyInput, rules: RulesDocument, actor: string, at: Date): Promise<SupplyChange> {
  const { row, state, allocs } = await lockSupply(tx, id, at);
  const stockBefore = await stockSnapshot(tx, [row.sku]);
  if (row.status !== 'open') throw new InvalidState(`supply ${id} is ${row.status}; only open supply can be changed`, { supplyStatus: row.status });
  const newQty = input.qty ?? row.qty;
  if (newQty < row.received_qty) throw new InvalidState(`supply ${id} has already received ${row.received_qty}; qty cannot go below that`, { receivedQty: row.received_qty });
  const oldDate = new Date(row.expected_at);
  const newDate = input.expectedAt ?? oldDate;
  const slipped = newDate.getTime() > oldDate.getTime();
  const advanced = newDate.getTime() < oldDate.getTime();

  // who loses their place: on a slip every backorder is re-planned (an earlier source may exist);
  // on a cut, the newest promises give up what no longer fits
  const items: { alloc: ActiveAlloc; displaced: number }[] = [];
  if (slipped) for (const a of allocs) items.push({ alloc: a, displaced: a.qty });
  else {
    let excess = row.received_qty + row.allocated_qty - newQty;
    for (const a of [...allocs].reverse()) {
      if (excess <= 0) break;
      const d = Math.min(a.qty, excess);
      items.push({ alloc: a, displaced: d });
      excess -= d;
    }
    items.sort((x, y) => Number(x.alloc.id) - Number(y.alloc.id));
  }
  const me = state.supplies.find((s) => s.id === id)!;
  me.expectedAt = newDate;
  me.free = newQty - row.received_qty - row.allocated_qty;
  giveBack(state, items);
  const plan = replan(
    state,
    rules,
    items.map((i) => ({ ref: i.alloc.id, channel: i.alloc.channel, sku: i.alloc.sku, qty: i.displaced, location: i.alloc.pin ?? undefined })),
  );
  if (newQty >= row.qty) await query(tx, sql`update supply set qty = ${newQty} where id = ${id}`);
  const reason = slipped ? 'supply-slipped' : newQty < row.qty ? 'supply-reduced' : 'supply-advanced';
  const extra = { supplyId: id, ...(input.reason ? { note: input.reason } : {}), expectedAt: { from: oldDate.toISOString(), to: newDate.toISOString() } };
  const affected = await applyReplan(
    tx,
    items.map((i, k) => ({ ...i, plan: plan.results[k]! })),
    reason,
    actor,
    at,
    extra,
  );
  if (advanced) {
    // the backorders that stay on this supply are now due earlier (never before now: a date moved
    // into the past is promised from now)
    const due = promiseDate({ expectedAt: newDate }, state.now);
    const staying = await activeAllocations(tx, sql`a.supply_id = ${id}`);
    const moved = staying.filter((a) => !a.promised_at || new Date(a.promised_at).getTime() > due.getTime());
    if (moved.length > 0) {
      await query(tx, sql`update allocations set promised_at = ${due.toISOString()} where supply_id = ${id} and qty > 0 and (promised_at is null or promised_at > ${due.toISOString()})`);
      const byRes = new Map<string, AllocationMove[]>();
      for (const a of moved) {
        const m = byRes.get(a.reservation_id) ?? [];
        m.push({
          from: { location: a.location, supplyId: id, qty: a.qty, ...(a.promised_at ? { promisedAt: new Date(a.promised_at).toISOString() } : {}) },
          to: [{ location: a.location, supplyId: id, qty: a.qty, promisedAt: due.toISOString() }],
          shortQty: 0,
        });
        byRes.set(a.reservation_id, m);
      }
      affected.push(...(await finishReservations(tx, byRes, 'supply-advanced', actor, at, extra, 'backorder.repromised')));
    }
  }
  const [after] = await query<SupplyRowFull>(
    tx,
    sql`update supply set qty = ${newQty}, expected_at = ${newDate.toISOString()}, reference = coalesce(${input.reference ?? null}, reference), updated_at = ${at.toISOString()}::timestamptz
        where id = ${id} returning *, 0 as rank`,
  );
  const supply = supplyDto(after!);
  await emit(
    tx,
    [{ type: 'supply.updated', subject: id, data: { before: supplyDto(row), supply, reason, note: input.reason ?? null, actor } }, ...(await stockChangeEvents(tx, stockBefore, at))],
    at,
  );
  return { supply, affected: affected.map(summary) };
}

/** Cancel an open supply: its backorders are re-planned (other supply, stock on hand) or become short. */
export async function cancelSupply(tx: Tx, id: string, input: CancelSupply, rules: RulesDocument, actor: string, at: Date): Promise<SupplyChange> {
  const { row, state, allocs } = await lockSupply(tx, id, at);
  if (row.status === 'cancelled') return { supply: supplyDto(row), affected: [] };
  if (row.status !== 'open') throw new InvalidState(`supply ${id} is ${row.status}; it cannot be cancelled`, { supplyStatus: row.status });
  const stockBefore = await stockSnapshot(tx, [row.sku]);
  const items = allocs.map((a) => ({ alloc: a, displaced: a.qty }));
  state.supplies = state.supplies.filter((s) => s.id !== id);
  giveBack(state, items);
  const plan = replan(
    state,
    rules,
    items.map((i) => ({ ref: i.alloc.id, channel: i.alloc.channel, sku: i.alloc.sku, qty: i.displaced, location: i.alloc.pin ?? undefined })),
  );
  const affected = await applyReplan(
    tx,
    items.map((i, k) => ({ ...i, plan: plan.results[k]! })),
    'supply-cancelled',
    actor,
    at,
    { supplyId: id, ...(input.reason ? { note: input.reason } : {}) },
  );
  const [after] = await query<SupplyRowFull>(tx, sql`update supply set status = 'cancelled', updated_at = ${at.toISOString()}::timestamptz where id = ${id} returning *, 0 as rank`);
  const supply = supplyDto(after!);
  await emit(tx, [{ type: 'supply.cancelled', subject: id, data: { supply, note: input.reason ?? null, actor } }, ...(await stockChangeEvents(tx, stockBefore, at))], at);
  return { supply, affected: affected.map(summary) };
}

/** The recorded history of a reservation's re-promises, fills, re-sourcing and shorts. */
export async function reservationChanges(db: Reader, id: string): Promise<ReservationChange[]> {
  const rows = await db
    .select({ id: changesTable.id, kind: changesTable.kind, reason: changesTable.reason, detail: changesTable.detail, createdAt: changesTable.createdAt })
    .from(changesTable)
    .where(eq(changesTable.reservationId, id))
    .orderBy(changesTable.id);
  // the id is a bigserial read as a number (exact below 2^53), answered as its decimal text
  return rows.map((r) => ({ id: String(r.id), kind: r.kind, reason: r.reason, detail: r.detail, at: r.createdAt.toISOString() }));
}

/**
 * The verbs on an existing reservation: get, release (full or partial), commit (shipment, full or
 * partial), extend. Each mutating verb runs inside `runIdempotent`'s transaction, locks the
 * reservation row first (so release, commit, extend and expiry on one reservation serialise), then
 * the positions it touches in global order. State rules:
 *   held → released | committed | expired; partial release/commit keeps it held while anything
 *   is held. Release of a reservation that holds nothing is a no-op (idempotent);
 *   commit or extend of one that is not held → 409 invalid-state.
 */
import { sql } from 'drizzle-orm';
import { type Exec, query, type Tx } from '../db/client.js';
import { ExceedsHeld, InvalidState } from '../domain/errors.js';
import type { StoredResponse } from './idempotency.js';
import {
  type AllocationChange,
  applyChanges,
  emit,
  loadReservation,
  type LoadedReservation,
  setStatus,
  settledStatus,
  toDto,
} from './allocation-changes.js';
import type { ReservationDto } from './dto.js';
import { outboxEvent } from '../events/types.js';

export interface SkuQty {
  sku: string;
  qty: number;
}

export interface VerbContext {
  actor: string;
  /** for a channel-scoped caller: which channels' reservations it may see (others are 404) */
  visible?: ((channel: string) => boolean) | undefined;
}

export async function getReservation(exec: Exec, id: string, ctx: Pick<VerbContext, 'visible'>): Promise<ReservationDto> {
  return toDto(await loadReservation(exec, id, { visible: ctx.visible }));
}

/**
 * Choose which allocations give up how much for each requested {sku, qty}. Releases take
 * backorders first, then the newest on-hand allocations; commits take on-hand allocations only.
 */
function pick(res: LoadedReservation, specs: readonly SkuQty[] | undefined, mode: 'release' | 'commit'): AllocationChange[] {
  const eligible = res.allocations.filter((a) => a.qty > 0 && (mode === 'release' || !a.supply_id));
  const changes = new Map<string, AllocationChange>();
  const change = (a: LoadedReservation['allocations'][number]) => {
    let c = changes.get(a.id);
    if (!c) {
      c = { allocationId: a.id, reservationId: res.row.id, channel: res.row.channel, sku: a.sku, location: a.location, supplyId: a.supply_id, release: 0, commit: 0 };
      changes.set(a.id, c);
    }
    return c;
  };
  if (!specs) {
    for (const a of eligible) change(a)[mode] = a.qty;
    return [...changes.values()];
  }
  const wanted = new Map<string, number>();
  for (const s of specs) {
    // a kit the reservation holds is named by its SKU: its components, by the stored composition
    const parts = new Map(res.lines.filter((l) => l.kit_sku === s.sku).map((l) => [l.sku, l.per_kit ?? 1]));
    if (parts.size === 0) wanted.set(s.sku, (wanted.get(s.sku) ?? 0) + s.qty);
    for (const [sku, perKit] of parts) wanted.set(sku, (wanted.get(sku) ?? 0) + s.qty * perKit);
  }
  const short: { sku: string; requested: number; held: number }[] = [];
  for (const [sku, qty] of wanted) {
    const pool = eligible
      .filter((a) => a.sku === sku)
      .sort((x, y) => (mode === 'release' ? Number(!!y.supply_id) - Number(!!x.supply_id) || Number(y.id) - Number(x.id) : Number(x.id) - Number(y.id)));
    const held = pool.reduce((s, a) => s + a.qty, 0);
    if (held < qty) {
      short.push({ sku, requested: qty, held });
      continue;
    }
    let rem = qty;
    for (const a of pool) {
      if (rem === 0) break;
      const q = Math.min(a.qty, rem);
      change(a)[mode] += q;
      rem -= q;
    }
  }
  if (short.length > 0) {
    const what = mode === 'commit' ? 'on hand and held' : 'held';
    throw new ExceedsHeld(short.map((s) => `${s.sku}: requested ${s.requested}, ${what} ${s.held}`).join('; '), { lines: short });
  }
  return [...changes.values()];
}

/** One allocation's move as events report it (supplyId only for a backorder). */
export const moved = (c: AllocationChange, qty: number): Moved => ({ sku: c.sku, location: c.location, qty, ...(c.supplyId ? { supplyId: c.supplyId } : {}) });

/** Apply the changes to the loaded copy too, so the response shows the new state without a reload. */
function applyLocally(res: LoadedReservation, changes: readonly AllocationChange[]): void {
  for (const c of changes) {
    const a = res.allocations.find((x) => x.id === c.allocationId)!;
    a.qty -= c.release + c.commit;
    a.released_qty += c.release;
    a.committed_qty += c.commit;
  }
}

type Moved = { sku: string; location: string; qty: number; supplyId?: string };

async function finish(
  tx: Tx,
  res: LoadedReservation,
  terminal: 'released' | 'expired',
  change: { type: 'reservation.released'; released: Moved[] } | { type: 'reservation.committed'; committed: Moved[] },
): Promise<StoredResponse> {
  const status = settledStatus(res.allocations, terminal);
  if (status !== res.row.status) await setStatus(tx, [res.row.id], status);
  else await query(tx, sql`update reservations set updated_at = now() where id = ${res.row.id}`);
  res.row.status = status;
  res.row.updated_at = new Date();
  const body = toDto(res);
  await emit(tx, [
    change.type === 'reservation.released'
      ? outboxEvent(change.type, res.row.id, { released: change.released, reservation: body })
      : outboxEvent(change.type, res.row.id, { committed: change.committed, reservation: body }),
  ]);
  return { status: 200, body };
}

export async function releaseReservation(tx: Tx, id: string, lines: SkuQty[] | undefined, ctx: VerbContext): Promise<StoredResponse> {
  const res = await loadReservation(tx, id, { lock: true, visible: ctx.visible });
  if (res.row.status !== 'held') {
    if (lines && lines.length > 0) throw new ExceedsHeld(`reservation ${id} is ${res.row.status} and holds nothing`);
    return { status: 200, body: toDto(res) };
  }
  const changes = pick(res, lines, 'release');
  await applyChanges(tx, changes, { release: 'release', commit: 'ship' }, ctx.actor);
  applyLocally(res, changes);
  return finish(tx, res, 'released', { type: 'reservation.released', released: changes.filter((c) => c.release > 0).map((c) => moved(c, c.release)) });
}

export async function commitReservation(tx: Tx, id: string, lines: SkuQty[] | undefined, ctx: VerbContext): Promise<StoredResponse> {
  const res = await loadReservation(tx, id, { lock: true, visible: ctx.visible });
  if (res.row.status !== 'held') throw new InvalidState(`reservation ${id} is ${res.row.status}; only a held reservation can be committed`, { reservationStatus: res.row.status });
  const changes = pick(res, lines, 'commit');
  if (changes.length === 0) throw new InvalidState(`reservation ${id} holds nothing on hand to commit (backordered lines wait for their supply)`);
  await applyChanges(tx, changes, { release: 'release', commit: 'ship' }, ctx.actor);
  applyLocally(res, changes);
  return finish(tx, res, 'released', { type: 'reservation.committed', committed: changes.filter((c) => c.commit > 0).map((c) => moved(c, c.commit)) });
}

export async function extendReservation(tx: Tx, id: string, holdSeconds: number, ctx: VerbContext): Promise<StoredResponse> {
  const res = await loadReservation(tx, id, { lock: true, visible: ctx.visible });
  if (res.row.status !== 'held') throw new InvalidState(`reservation ${id} is ${res.row.status}; only a held reservation can be extended`, { reservationStatus: res.row.status });
  const [row] = await query<{ expires_at: Date; updated_at: Date }>(
    tx,
    sql`update reservations set hold_seconds = ${holdSeconds}, expires_at = now() + make_interval(secs => ${holdSeconds}), updated_at = now()
        where id = ${id} returning expires_at, updated_at`,
  );
  res.row.expires_at = row!.expires_at;
  res.row.updated_at = row!.updated_at;
  const body = toDto(res);
  await emit(tx, [outboxEvent('reservation.extended', id, { holdSeconds, expiresAt: body.expiresAt, reservation: body })]);
  return { status: 200, body };
}

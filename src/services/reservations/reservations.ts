/**
 * The verbs on an existing reservation: get, release (full or partial), commit (shipment, full or
 * partial), extend. Each mutating verb runs inside `runIdempotent`'s transaction, locks the
 * reservation row first (so release, commit, extend and expiry on one reservation serialise), then
 * the positions it touches in global order. State rules:
 *   held → released | committed | expired; partial release/commit keeps it held while anything
 *   is held. Releasing a released or expired reservation is a no-op (idempotent); releasing a
 *   committed one, and commit or extend of one that is not held → 409 invalid-state. Extend never
 *   shortens a hold (409 hold-would-shorten). Only release is open to a channel key, for its own
 *   channel's reservations.
 */
import { sql } from 'drizzle-orm';
import { type Exec, query, type Tx } from '../../db/client.js';
import { ExceedsHeld, Forbidden, HoldWouldShorten, InvalidState, NotFound } from '../../domain/errors.js';
import type { FactorOf } from '../../domain/catalog.js';
import {
  type AllocationChange,
  applyChanges,
  loadReservation,
  type LoadedReservation,
  setStatus,
  settledStatus,
  toDto,
} from './allocation-changes.js';
import { iso, type ReservationDto } from './dto.js';
import { emit } from '../../events/outbox.js';
import { outboxEvent } from '../../events/types.js';

export interface SkuQty {
  sku: string;
  qty: number;
}

/**
 * The quantities a release or commit names, converted to base units once the reservation is
 * loaded: `stored` answers the unit factor recorded on the reservation's own line (the pack size
 * when it was ordered), so a pack size changed since then does not change what the order's
 * "1 case" means. Throws 400 naming the field, like the catalog.
 */
export type ToBase = (stored: FactorOf) => SkuQty[];

/** The factor of `unit` stored on a plain (non-kit) line of `sku`, or on the lines of kit `sku`. */
export function storedFactors(res: LoadedReservation): FactorOf {
  return (sku, unit) => {
    if (unit === undefined) return undefined;
    const line = res.lines.find((l) => l.unit === unit && l.unit_factor != null && (l.kit_sku ? l.kit_sku === sku : l.sku === sku));
    return line?.unit_factor ?? undefined;
  };
}

export interface VerbContext {
  actor: string;
  /** the transaction's instant (db/clock.ts): every row and the answer of the verb carry it */
  at: Date;
  /** for a channel-scoped caller: which channels' reservations it may see (others are 404) */
  visible?: ((channel: string) => boolean) | undefined;
  /** for a channel-scoped caller of a verb it may use: which channels' reservations it may change (others, and unknown ids, are 403) */
  mayChange?: ((channel: string) => boolean) | undefined;
}

/**
 * Load and lock a reservation for a change. A channel caller (`mayChange`) gets 403 for another
 * channel's reservation and, alike, for an id that does not exist: the answer does not tell which
 * (no existence oracle, as GET answers 404 for both).
 */
async function loadForChange(tx: Tx, id: string, ctx: VerbContext): Promise<LoadedReservation> {
  if (!ctx.mayChange) return loadReservation(tx, id, { lock: true, visible: ctx.visible });
  try {
    return await loadReservation(tx, id, { lock: true, visible: ctx.mayChange });
  } catch (err) {
    if (err instanceof NotFound) throw new Forbidden(`this key may change only its own channel's reservations; ${id} is not one of them`);
    throw err;
  }
}

/** Read one reservation (no lock, no transaction: three plain reads). 404 when missing or not visible to the caller. */
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
  // demands per (sku, kit): a kit the reservation holds is named by its SKU and resolved to its
  // components by the stored composition, taken from that kit's own lines; a plain SKU takes from
  // plain lines first (a kit's components only when the plain lines do not hold enough)
  const demands = new Map<string, { sku: string; qty: number; kit?: string }>();
  const want = (sku: string, qty: number, kit?: string) => {
    const k = `${sku}\u0000${kit ?? ''}`;
    const d = demands.get(k) ?? { sku, qty: 0, ...(kit ? { kit } : {}) };
    d.qty += qty;
    demands.set(k, d);
  };
  for (const s of specs) {
    const kitLines = res.lines.filter((l) => l.kit_sku === s.sku);
    if (kitLines.length === 0) want(s.sku, s.qty);
    for (const [sku, perKit] of new Map(kitLines.map((l) => [l.sku, l.per_kit ?? 1]))) want(sku, s.qty * perKit, s.sku);
  }
  const kitOfLine = new Map(res.lines.map((l) => [l.line_no, l.kit_sku ?? null]));
  const left = (a: LoadedReservation['allocations'][number]) => a.qty - (changes.get(a.id)?.[mode] ?? 0);
  const byMode = (x: LoadedReservation['allocations'][number], y: LoadedReservation['allocations'][number]) =>
    mode === 'release' ? Number(!!y.supply_id) - Number(!!x.supply_id) || Number(y.id) - Number(x.id) : Number(x.id) - Number(y.id);
  const short: { sku: string; requested: number; held: number }[] = [];
  for (const d of [...demands.values()].sort((x, y) => Number(!x.kit) - Number(!y.kit))) {
    const pool = eligible
      .filter((a) => a.sku === d.sku && (d.kit ? kitOfLine.get(a.line_no) === d.kit : true))
      .sort((x, y) => (d.kit ? 0 : Number(!!kitOfLine.get(x.line_no)) - Number(!!kitOfLine.get(y.line_no))) || byMode(x, y));
    const held = pool.reduce((t, a) => t + left(a), 0);
    if (held < d.qty) {
      short.push({ sku: d.kit ? `${d.kit}/${d.sku}` : d.sku, requested: d.qty, held });
      continue;
    }
    let rem = d.qty;
    for (const a of pool) {
      if (rem === 0) break;
      const q = Math.min(left(a), rem);
      if (q > 0) change(a)[mode] += q;
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
  at: Date,
): Promise<ReservationDto> {
  const status = settledStatus(res.allocations, terminal);
  if (status !== res.row.status) await setStatus(tx, [res.row.id], status, at);
  else await query(tx, sql`update reservations set updated_at = ${at.toISOString()}::timestamptz where id = ${res.row.id}`);
  res.row.status = status;
  res.row.updated_at = at;
  const body = toDto(res);
  await emit(tx, [
    change.type === 'reservation.released'
      ? outboxEvent(change.type, res.row.id, { released: change.released, reservation: body })
      : outboxEvent(change.type, res.row.id, { committed: change.committed, reservation: body }),
  ], at);
  return body;
}

/**
 * Release all that a reservation holds, or the given quantities (converted with the unit factors
 * stored on its lines). Concurrency: the reservation row is locked first, then its positions in
 * global order, so it serialises with commit, extend, expiry and short picks on the same
 * reservation; one transaction, stamped `ctx.at`. Errors: 404 not visible to the caller; 403 a
 * channel caller (`ctx.mayChange`) naming a reservation not of its channel (or an unknown id); 400
 * for a quantity that is not whole base units; 409 invalid-state when it is committed (it shipped:
 * nothing is left to release); 409 exceeds-held for more than it holds. Releasing a released or
 * expired reservation in full is a no-op (200).
 */
export async function releaseReservation(tx: Tx, id: string, toBase: ToBase | undefined, ctx: VerbContext): Promise<ReservationDto> {
  const res = await loadForChange(tx, id, ctx);
  const lines = toBase?.(storedFactors(res));
  if (res.row.status === 'committed') {
    throw new InvalidState(`reservation ${id} is committed: it shipped and holds nothing to release`, { reservationStatus: res.row.status });
  }
  if (res.row.status !== 'held') {
    if (lines && lines.length > 0) throw new ExceedsHeld(`reservation ${id} is ${res.row.status} and holds nothing`);
    return toDto(res);
  }
  const changes = pick(res, lines, 'release');
  await applyChanges(tx, changes, { release: 'release', commit: 'ship' }, ctx.actor, ctx.at);
  applyLocally(res, changes);
  return finish(tx, res, 'released', { type: 'reservation.released', released: changes.filter((c) => c.release > 0).map((c) => moved(c, c.release)) }, ctx.at);
}

/**
 * Commit (ship) all on-hand allocations, or the given quantities (converted with the unit factors
 * stored on its lines): onHand and reserved both go down. Concurrency: the reservation row is
 * locked first, then its positions in global order; stamped `ctx.at`. Errors: 404 not visible; 400
 * for a quantity that is not whole base units; 409 invalid-state when not held or nothing on hand
 * is held (backorders wait for their supply); 409 exceeds-held for more than it holds on hand.
 */
export async function commitReservation(tx: Tx, id: string, toBase: ToBase | undefined, ctx: VerbContext): Promise<ReservationDto> {
  const res = await loadReservation(tx, id, { lock: true, visible: ctx.visible });
  const lines = toBase?.(storedFactors(res));
  if (res.row.status !== 'held') throw new InvalidState(`reservation ${id} is ${res.row.status}; only a held reservation can be committed`, { reservationStatus: res.row.status });
  const changes = pick(res, lines, 'commit');
  if (changes.length === 0) throw new InvalidState(`reservation ${id} holds nothing on hand to commit (backordered lines wait for their supply)`);
  await applyChanges(tx, changes, { release: 'release', commit: 'ship' }, ctx.actor, ctx.at);
  applyLocally(res, changes);
  return finish(tx, res, 'released', { type: 'reservation.committed', committed: changes.filter((c) => c.commit > 0).map((c) => moved(c, c.commit)) }, ctx.at);
}

/**
 * Extend a held reservation: it now expires `holdSeconds` after the transaction's instant
 * `ctx.at` (Postgres time, db/clock.ts); expiresAt and updatedAt in the answer are what the UPDATE
 * returned. Never shortens: a new expiry before the current one, or any expiry on a hold that
 * never expires, is refused (409 hold-would-shorten naming `body.holdSeconds`) and nothing
 * changes. Concurrency: the reservation row is locked first (serialises with release, commit,
 * expiry), and the comparison is made in the updating statement with the same instant that sets
 * the expiry. Errors: 404 not visible; 409 invalid-state when not held.
 */
export async function extendReservation(tx: Tx, id: string, holdSeconds: number, ctx: VerbContext): Promise<ReservationDto> {
  const res = await loadReservation(tx, id, { lock: true, visible: ctx.visible });
  if (res.row.status !== 'held') throw new InvalidState(`reservation ${id} is ${res.row.status}; only a held reservation can be extended`, { reservationStatus: res.row.status });
  const [row] = await query<{ expires_at: Date; updated_at: Date }>(
    tx,
    sql`update reservations set hold_seconds = ${holdSeconds}, expires_at = ${ctx.at.toISOString()}::timestamptz + make_interval(secs => ${holdSeconds}),
          updated_at = ${ctx.at.toISOString()}::timestamptz
        where id = ${id} and expires_at is not null and expires_at <= ${ctx.at.toISOString()}::timestamptz + make_interval(secs => ${holdSeconds})
        returning expires_at, updated_at`,
  );
  if (!row) throw new HoldWouldShorten(holdSeconds, iso(res.row.expires_at));
  res.row.expires_at = row.expires_at;
  res.row.updated_at = row.updated_at;
  const body = toDto(res);
  await emit(tx, [outboxEvent('reservation.extended', id, { holdSeconds, expiresAt: body.expiresAt, reservation: body })], ctx.at);
  return body;
}

/**
 * Stock control: the service's own consistency check, replenishment signals, and reconciliation
 * against a warehouse snapshot.
 *
 * - `checkConsistency` re-derives every stored aggregate from its source rows (positions from
 *   allocations and the ledger, supply from its backorders, channel holds from allocations) and
 *   lists each breach. It reads one snapshot (REPEATABLE READ), so a check run under live traffic
 *   never reports a transient difference between two tables.
 * - `replenishment` lists positions whose projected stock (onHand + open inbound − reserved −
 *   backorders) is at or below their reorder point — committed demand counts the moment it is
 *   accepted, not when it is picked — with the quantity to order (reorderQty, in as many lots as
 *   needed to get back above the point).
 * - `reconcile` compares a WMS snapshot with onHand and, with apply, books each gap as an audited
 *   cycle count through the same path as PUT /v1/inventory. A count below what is reserved cannot
 *   be stored as is: those gaps are reported as over-committed and handed to the short-pick
 *   resolver when one is given.
 */
import { pgArray } from '../../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { asDate, type Clock, nowSql } from '../../db/clock.js';
import { type Db, type Exec, query, type Tx } from '../../db/client.js';
import { WouldOvercommit } from '../../domain/errors.js';
import { loadProjected, projectedOf } from '../../events/stock.js';
import { RetryTransaction } from '../../db/tx.js';
import { refuseKits, setPosition } from './inventory.js';
import type { Breach, ConsistencyReport, Gap, ReconciliationResult, ReplenishmentLine } from '../../contract/stock.js';

/** Re-derive every stored aggregate in one REPEATABLE READ snapshot; `checkedAt` is that snapshot's Postgres time (or the test `clock`). */
export async function checkConsistency(db: Db, clock?: Clock): Promise<ConsistencyReport> {
  return db.transaction(
    async (tx) => {
      const positions = await query<{ sku: string; location: string; on_hand: number; reserved: number; quality_hold: number; alloc: number; l_oh: number }>(
        tx,
        sql`select p.sku, p.location, p.on_hand, p.reserved, p.quality_hold, coalesce(a.q, 0)::int as alloc, coalesce(l.oh, 0)::int as l_oh
            from positions p
            left join (select sku, location, sum(qty) as q from allocations where supply_id is null group by sku, location) a using (sku, location)
            left join (select sku, location, sum(delta_on_hand) as oh from ledger group by sku, location) l using (sku, location)
            order by p.sku, p.location`,
      );
      const supplies = await query<{ id: string; allocated_qty: number; alloc: number }>(
        tx,
        sql`select s.id::text as id, s.allocated_qty, coalesce(sum(a.qty), 0)::int as alloc
            from supply s left join allocations a on a.supply_id = s.id group by s.id, s.allocated_qty order by s.id`,
      );
      const holds = await query<{ sku: string; channel: string; reserved: number; alloc: number }>(
        tx,
        sql`select h.sku, h.channel, h.reserved, coalesce(sum(a.qty), 0)::int as alloc
            from channel_holds h
            left join reservations r on r.channel = h.channel
            left join allocations a on a.reservation_id = r.id and a.sku = h.sku
            group by h.sku, h.channel, h.reserved order by h.sku, h.channel`,
      );
      const statuses = await query<{ id: string; status: string; held: number; n: number }>(
        tx,
        sql`select r.id::text as id, r.status, coalesce(sum(a.qty), 0)::int as held, count(*)::int as n
            from reservations r left join allocations a on a.reservation_id = r.id
            group by r.id, r.status
            having (r.status = 'held') <> (coalesce(sum(a.qty), 0) > 0)`,
      );
      const [counted] = await query<{ n: number; at: Date | string }>(tx, sql`select count(*)::int as n, ${nowSql(clock)} as at from reservations`);
      const reservations = counted!.n;

      const breaches: Breach[] = [];
      for (const p of positions) {
        const at = `${p.sku}@${p.location}`;
        if (p.reserved !== p.alloc) breaches.push({ check: 'reserved-vs-allocations', subject: at, expected: p.alloc, actual: p.reserved });
        if (p.on_hand !== p.l_oh) breaches.push({ check: 'ledger-vs-onhand', subject: at, expected: p.l_oh, actual: p.on_hand });
        if (p.reserved + p.quality_hold > p.on_hand) breaches.push({ check: 'oversold', subject: at, expected: `<= ${p.on_hand}`, actual: p.reserved + p.quality_hold });
      }
      for (const s of supplies) {
        if (s.allocated_qty !== s.alloc) breaches.push({ check: 'supply-vs-backorders', subject: `supply ${s.id}`, expected: s.alloc, actual: s.allocated_qty });
      }
      for (const h of holds) {
        if (h.reserved !== h.alloc) breaches.push({ check: 'holds-vs-allocations', subject: `${h.sku}/${h.channel}`, expected: h.alloc, actual: h.reserved });
      }
      for (const r of statuses) {
        breaches.push({ check: 'status-vs-allocations', subject: `reservation ${r.id}`, expected: r.held > 0 ? 'held' : 'settled', actual: r.status });
      }
      return {
        ok: breaches.length === 0,
        checkedAt: asDate(counted!.at).toISOString(),
        checked: { positions: positions.length, supplies: supplies.length, channelHolds: holds.length, reservations },
        breaches,
      };
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}

/** Suggested order: whole lots of reorderQty until projected stock is above the reorder point. */
export function suggestedQty(projected: number, reorderPoint: number, reorderQty: number): number {
  if (projected > reorderPoint) return 0;
  const lot = Math.max(1, reorderQty);
  return Math.ceil((reorderPoint - projected + 1) / lot) * lot;
}

export async function replenishment(exec: Exec, filter: { sku?: string | undefined; location?: string | undefined } = {}): Promise<ReplenishmentLine[]> {
  const points = await loadProjected(exec, filter.sku === undefined ? undefined : [filter.sku], filter.location);
  return points
    .map((p) => {
      const projected = projectedOf(p);
      const reorderQty = p.reorderQty ?? 1;
      return {
        sku: p.sku,
        location: p.location,
        onHand: p.onHand,
        inbound: p.inbound,
        reserved: p.reserved,
        backordered: p.backordered,
        projected,
        reorderPoint: p.reorderPoint!,
        reorderQty,
        suggestedQty: suggestedQty(projected, p.reorderPoint!, reorderQty),
      };
    })
    .filter((l) => l.suggestedQty > 0);
}

export interface SnapshotRow {
  sku: string;
  location: string;
  onHand: number;
}

export interface ReconcileOptions {
  apply: boolean;
  /** positions at the snapshot's locations that the snapshot does not list count as 0 */
  complete: boolean;
  reason: string;
  actor: string;
  /** the transaction's instant (db/clock.ts): counts booked by the reconciliation carry it */
  at: Date;
  /**
   * Resolve a count below what is reserved (the short-pick path: correct onHand, re-source or
   * backorder or short the reservations it strands). Without one, such gaps are reported only.
   */
  resolveShort?: (tx: Tx, gap: { sku: string; location: string; expectedQty: number; foundQty: number; reason: string; actor: string }) => Promise<unknown>;
}

/**
 * Compare a snapshot with onHand; with `apply`, book the gaps. Lock order is the global one: when
 * applying, the reservations holding stock at over-committed positions are locked first (by id),
 * then each position as its gap is booked (setPosition / the short-pick path lock in that order
 * too). A position whose count changes under the comparison is booked to the warehouse count all
 * the same: the snapshot is the truth for its positions.
 */
export async function reconcile(tx: Tx, snapshot: readonly SnapshotRow[], opts: ReconcileOptions): Promise<ReconciliationResult> {
  await refuseKits(tx, snapshot.map((r, i) => ({ sku: r.sku, field: `body.snapshot.${i}.sku` })));
  const counted = new Map<string, SnapshotRow>();
  for (const row of snapshot) counted.set(`${row.sku}\u0000${row.location}`, row); // one row per position (the route refuses repeats)
  const locations = [...new Set(snapshot.map((r) => r.location))];
  const rows = await query<{ sku: string; location: string; on_hand: number; reserved: number; quality_hold: number }>(
    tx,
    sql`select p.sku, p.location, p.on_hand, p.reserved, p.quality_hold from positions p
        where (p.sku, p.location) in (select k.sku, k.location from unnest(${pgArray([...counted.values()].map((k) => k.sku))}::text[], ${pgArray([...counted.values()].map((k) => k.location))}::text[]) as k(sku, location))
           or (${opts.complete} and p.location = any(${pgArray(locations)}::text[]))
        order by p.sku, p.location`,
  );
  const current = new Map(rows.map((r) => [`${r.sku}\u0000${r.location}`, r]));
  const keys = new Set([...counted.keys(), ...(opts.complete ? current.keys() : [])]);
  const gaps: Gap[] = [];
  for (const k of [...keys].sort()) {
    const have = current.get(k);
    const seen = counted.get(k);
    const [sku, location] = k.split('\u0000') as [string, string];
    const serviceOnHand = have?.on_hand ?? 0;
    const warehouseOnHand = seen?.onHand ?? 0;
    if (serviceOnHand === warehouseOnHand) continue;
    const reserved = have?.reserved ?? 0;
    const qualityHold = have?.quality_hold ?? 0;
    gaps.push({ sku, location, serviceOnHand, warehouseOnHand, delta: warehouseOnHand - serviceOnHand, reserved, qualityHold, overCommitted: warehouseOnHand < reserved + qualityHold, applied: false });
  }
  let applied = 0;
  if (opts.apply) {
    // every gap that lowers a count may strand reservations (now, or once a concurrent change
    // lands): lock their reservations first, in id order, before any position lock
    const over = gaps.filter((g) => g.warehouseOnHand < g.serviceOnHand);
    if (over.length > 0 && opts.resolveShort) {
      await query(
        tx,
        sql`select id from reservations where id in (
              select a.reservation_id from allocations a
              join unnest(${pgArray(over.map((g) => g.sku))}::text[], ${pgArray(over.map((g) => g.location))}::text[]) as k(sku, location)
                on k.sku = a.sku and k.location = a.location
              where a.supply_id is null and a.qty > 0)
            order by id for update`,
      );
    }
    for (const g of gaps) {
      if (!g.overCommitted) {
        try {
          await setPosition(tx, { sku: g.sku, location: g.location, onHand: g.warehouseOnHand, reason: opts.reason }, opts.actor, { at: opts.at });
          g.applied = true;
          g.outcome = 'adjusted';
        } catch (err) {
          // reserved grew between the comparison and the lock: this gap is over-committed after
          // all; start over so the comparison (and the reservation locks) see it
          if (err instanceof WouldOvercommit && opts.resolveShort) throw new RetryTransaction('a gap became over-committed while reconciling');
          if (!(err instanceof WouldOvercommit)) throw err;
          g.overCommitted = true;
        }
      }
      if (g.applied) {
        applied++;
        continue;
      }
      if (opts.resolveShort) {
        // the short-pick path moves onHand by found − expected: take "expected" under the lock, so
        // the count booked is the warehouse's whatever changed since the comparison
        // (every position of the SKU, in the global (sku, location) order, as the short-pick path locks them)
        const rows = await query<{ location: string; on_hand: number }>(tx, sql`select location, on_hand from positions where sku = ${g.sku} order by location for update`);
        const locked = rows.find((r) => r.location === g.location);
        await opts.resolveShort(tx, { sku: g.sku, location: g.location, expectedQty: locked?.on_hand ?? g.serviceOnHand, foundQty: g.warehouseOnHand, reason: opts.reason, actor: opts.actor });
        g.applied = true;
        g.outcome = 'short-pick';
        applied++;
      } else {
        g.outcome = `count ${g.warehouseOnHand} is below reserved ${g.reserved} + qualityHold ${g.qualityHold}; not applied`;
      }
    }
  }
  return { gaps, compared: keys.size, applied };
}

/**
 * GET /v1/atp from one snapshot (pure: no I/O): per SKU the now-view (totals, per location, and
 * for a channel after its rules) plus inbound supply and the cumulative ATP by date per location
 * and in total, after existing backorders consumed their supply (free = qty − received −
 * allocated). With a channel: the same after its rules (allowed locations, protection on stock on
 * hand, cap) — the quantities a backorder-allowed reservation of that channel could get by each
 * date. Kits come from their components (src/reads/kit-atp.ts), pack units are whole packs.
 */
import { availableOf, channelAvailable, holdKey, type PositionState, promiseDate } from '../domain/allocate.js';
import { ValidationFailed } from '../domain/errors.js';
import { policyFor, tierOf } from '../rules/policy.js';
import type { RulesDocument } from '../contract/rules.js';
import type { DatedAvailable, Inbound, TimePhasedAtpSku } from '../contract/atp.js';
import { kitAtp, unitView } from './kit-atp.js';
import type { AtpNow, PhysicalAtp } from './answers.js';
import { positionDto } from './positions.js';
import type { Snapshot, SnapshotSlice } from './snapshot.js';

/** One SKU's answer of GET /v1/atp (contract/atp.ts TimePhasedAtpSku). */
export type AtpAnswer = TimePhasedAtpSku;

/** The SKUs whose stock answers a read of `skus`: each kit's components in its place. */
export function physicalSkus(snapshot: Snapshot, skus: readonly string[]): string[] {
  return [...new Set(skus.flatMap((s) => snapshot.kits.get(s)?.map((c) => c.sku) ?? [s]))];
}

/**
 * The answer of GET /v1/atp for `skus` (as requested, kits included) from `snapshot`. Throws 400
 * naming `query.unit` when a SKU has no such pack unit.
 */
export function atpAnswer(snapshot: Snapshot, rules: RulesDocument, skus: readonly string[], channel: string | undefined, unit: string | undefined): AtpAnswer[] {
  const factor = (sku: string) => (unit === undefined || unit === 'each' ? 1 : snapshot.units.get(sku)?.get(unit));
  if (unit) {
    const missing = skus.filter((s) => factor(s) === undefined);
    if (missing.length > 0) throw new ValidationFailed([{ field: 'query.unit', reason: `no unit "${unit}" for ${missing.join(', ')}` }]);
  }
  const physical = physicalSkus(snapshot, skus);
  const slice = snapshot.slice(physical);
  const rows = new Map(physical.map((sku) => [sku, timePhased(atpNow(slice, sku, rules, channel), slice, rules, channel)]));
  return skus.map((s) => {
    const kit = snapshot.kits.get(s);
    const row = kit ? kitAtp(s, kit, rows) : rows.get(s)!;
    return unit ? { ...row, inUnit: unitView(row, unit, factor(s)!) } : row;
  });
}

/** ATP now of one SKU: totals and per location (by rank); with `channel`, what it may take after its rules. */
function atpNow(slice: SnapshotSlice, sku: string, rules: RulesDocument, channel?: string): AtpNow {
  const mine = slice.positions.filter((p) => p.sku === sku).sort((a, b) => a.rank - b.rank || (a.location < b.location ? -1 : a.location > b.location ? 1 : 0));
  const sum = (f: (p: PositionState) => number) => mine.reduce((s, p) => s + f(p), 0);
  const out: AtpNow = {
    sku,
    onHand: sum((p) => p.onHand),
    reserved: sum((p) => p.reserved),
    qualityHold: sum((p) => p.qualityHold),
    safetyStock: sum((p) => p.safetyStock),
    available: sum(availableOf),
    locations: mine.map((p) => ({ ...positionDto(p), rank: p.rank })),
  };
  if (channel) {
    const v = channelAvailable(mine, rules, sku, channel, slice.holds.get(holdKey(sku, channel)) ?? 0);
    out.channel = {
      name: channel,
      tier: tierOf(rules, channel),
      available: v.forChannel,
      protectedUnits: v.protectedUnits,
      capRoom: Number.isFinite(v.capRoom) ? v.capRoom : null,
      rulesVersion: rules.version,
    };
  }
  return out;
}

/** cumulative: start + Σ free of the inbound expected at or before each distinct date */
function cumulative(start: number, inbound: readonly { at: Date; free: number }[], cap = Number.POSITIVE_INFINITY): DatedAvailable[] {
  const byTime = new Map<number, number>();
  for (const s of inbound) byTime.set(s.at.getTime(), (byTime.get(s.at.getTime()) ?? 0) + s.free);
  let run = start;
  return [...byTime.keys()]
    .sort((a, b) => a - b)
    .map((t) => {
      run += byTime.get(t)!;
      return { date: new Date(t).toISOString(), available: Math.min(cap, run) };
    });
}

function timePhased(a: AtpNow, state: SnapshotSlice, rules: RulesDocument, channel?: string): PhysicalAtp {
  const rows = state.supplyRows.filter((s) => s.sku === a.sku);
  const inbound: Inbound[] = rows.map((s) => ({
    supplyId: s.id,
    location: s.location,
    expectedAt: new Date(s.expected_at).toISOString(),
    openQty: s.qty - s.received_qty,
    allocatedQty: s.allocated_qty,
    freeQty: s.qty - s.received_qty - s.allocated_qty,
  }));
  // overdue supply (expected before now, not yet received) counts from now, never at a past date
  const free = (pred: (loc: string) => boolean) =>
    rows.filter((s) => pred(s.location)).map((s) => ({ at: promiseDate({ expectedAt: new Date(s.expected_at) }, state.now), free: s.qty - s.received_qty - s.allocated_qty }));
  const locations = [...a.locations];
  for (const s of rows) {
    if (!locations.some((l) => l.location === s.location)) {
      locations.push({ sku: a.sku, location: s.location, onHand: 0, reserved: 0, qualityHold: 0, safetyStock: 0, available: 0, rank: s.rank });
    }
  }
  locations.sort((x, y) => x.rank - y.rank || (x.location < y.location ? -1 : 1));
  const { channel: channelNow, ...rest } = a;
  const out: PhysicalAtp = {
    ...rest,
    inbound,
    byDate: cumulative(a.available, free(() => true)),
    locations: locations.map((l) => ({ ...l, byDate: cumulative(l.available, free((loc) => loc === l.location)) })),
  };
  if (channel && channelNow) {
    const mine: PositionState[] = state.positions.filter((p) => p.sku === a.sku);
    const policy = policyFor(rules, a.sku, channel);
    const allowed = (loc: string) => !policy.locations || policy.locations.has(loc);
    const v = channelAvailable(mine, rules, a.sku, channel, state.holds.get(holdKey(a.sku, channel)) ?? 0);
    const onHand = Math.max(0, Math.min(v.physical, v.forChannel));
    out.channel = { ...channelNow, byDate: cumulative(onHand, free(allowed), v.capRoom) };
  }
  return out;
}

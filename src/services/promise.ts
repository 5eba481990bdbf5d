/**
 * Read-only answers about the future: POST /v1/promise (earliest dates per line and for the
 * whole order) and the time-phased part of GET /v1/atp. Both read positions, open supply and
 * channel holds in one REPEATABLE READ, READ ONLY transaction (one consistent snapshot) and take
 * no locks; nothing is reserved.
 */
import type { Clock } from '../db/clock.js';
import { type Db } from '../db/client.js';
import { inTransaction } from '../db/tx.js';
import { channelAvailable, holdKey, type LineRequest, type PositionState, promiseDate } from '../domain/allocate.js';
import { type OrderPromise, promiseOrder } from '../domain/promise.js';
import { policyFor } from '../rules/policy.js';
import type { RulesDocument } from '../rules/schema.js';
import { type AtpSku, getAtp } from './inventory.js';
import { type LoadedState, loadState } from './supply-state.js';

async function snapshot<T>(db: Db, fn: (exec: Db) => Promise<T>): Promise<T> {
  // one BEGIN carrying the isolation level (no separate SET TRANSACTION round trip); a read-only
  // snapshot has nothing to retry
  return db.transaction(async (tx) => fn(tx as unknown as Db), { isolationLevel: 'repeatable read', accessMode: 'read only' });
}

export interface PromiseLineDto {
  lineNo: number;
  sku: string;
  qty: number;
  location?: string;
  promisedAt: string | null;
  /** with shipComplete: the date the whole order ships (the order's promisedAt) */
  shipAt?: string | null;
  source?: 'on-hand' | 'inbound' | 'mixed';
  /** for a kit line, each source names the component `sku` */
  sources: { sku?: string; location: string; qty: number; supplyId?: string; expectedAt?: string }[];
  reason?: string;
  detail?: string;
}

export interface PromiseDto {
  channel: string;
  shipComplete: boolean;
  asOf: string;
  promisedAt: string | null;
  reason?: string;
  detail?: string;
  rulesVersion: number;
  lines: PromiseLineDto[];
}

export function promiseDto(channel: string, shipComplete: boolean, now: Date, rules: RulesDocument, p: OrderPromise): PromiseDto {
  const order = p.promisedAt ? p.promisedAt.toISOString() : null;
  return {
    channel,
    shipComplete,
    asOf: now.toISOString(),
    promisedAt: order,
    ...(p.reason ? { reason: p.reason, detail: p.detail } : {}),
    rulesVersion: rules.version,
    lines: p.lines.map((l) => ({
      lineNo: l.lineNo,
      sku: l.sku,
      qty: l.qty,
      ...(l.location ? { location: l.location } : {}),
      promisedAt: l.promisedAt ? l.promisedAt.toISOString() : null,
      ...(shipComplete ? { shipAt: order } : {}),
      ...(l.source ? { source: l.source } : {}),
      sources: l.allocations.map((a) => ({ ...(a.sku ? { sku: a.sku } : {}), location: a.location, qty: a.qty, ...(a.supplyId ? { supplyId: a.supplyId, expectedAt: a.promisedAt!.toISOString() } : {}) })),
      ...(l.reason ? { reason: l.reason, detail: l.detail } : {}),
    })),
  };
}

/** The earliest dates for these lines for this channel, from one consistent snapshot. */
export async function promise(db: Db, rules: RulesDocument, input: { channel: string; lines: LineRequest[]; shipComplete?: boolean | undefined }, clock?: Clock): Promise<PromiseDto> {
  return snapshot(db, async (exec) => {
    // the snapshot's now() (or the test clock's instant) comes with the state (one round trip)
    const state = await loadState(exec, input.lines.map((l) => l.sku), { lock: false, clock });
    const at = state.now;
    return promiseDto(input.channel, input.shipComplete ?? false, at, rules, promiseOrder(state, rules, input.channel, input.lines, at));
  });
}

export interface DatedAvailable {
  date: string;
  available: number;
}

export interface InboundDto {
  supplyId: string;
  location: string;
  expectedAt: string;
  /** still expected (qty − received) */
  openQty: number;
  /** of which promised to backorders */
  allocatedQty: number;
  /** of which free to promise */
  freeQty: number;
}

export type TimePhasedAtpSku = AtpSku & {
  inbound: InboundDto[];
  /** cumulative ATP: available now plus free inbound expected by each date */
  byDate: DatedAvailable[];
  locations: (AtpSku['locations'][number] & { byDate: DatedAvailable[] })[];
  channel?: NonNullable<AtpSku['channel']> & { byDate: DatedAvailable[] };
};

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

/**
 * GET /v1/atp: the now-view (getAtp) plus, per SKU, inbound supply and the cumulative ATP by date
 * per location and in total, after existing backorders consumed their supply (free = qty −
 * received − allocated). With a channel: the same after its rules (allowed locations, protection
 * on stock on hand, cap) — the quantities a backorder-allowed reservation of that channel could
 * get by each date.
 */
export async function getTimePhasedAtp(db: Db, skus: readonly string[], rules: RulesDocument, channel?: string, clock?: Clock): Promise<TimePhasedAtpSku[]> {
  return snapshot(db, async (exec) => {
    // issued together: pipelined on the snapshot's connection (one flush, one round trip)
    const [now, state]: [AtpSku[], LoadedState] = await Promise.all([getAtp(exec, skus, rules, channel), loadState(exec, skus, { lock: false, clock })]);
    return now.map((a) => phase(a, state, rules, channel));
  });
}

function phase(a: AtpSku, state: LoadedState, rules: RulesDocument, channel?: string): TimePhasedAtpSku {
  const rows = state.supplyRows.filter((s) => s.sku === a.sku);
  const inbound: InboundDto[] = rows.map((s) => ({
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
  const out: TimePhasedAtpSku = {
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

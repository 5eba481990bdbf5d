/**
 * The answers about the future: POST /v1/promise (earliest dates per line and for the whole
 * order) and the time-phased part of GET /v1/atp. Their shapes are defined once in
 * src/contract/atp.ts (PromiseResult, TimePhasedAtpSku); this module builds the promise and
 * names the partial rows src/reads/atp.ts and kit-atp.ts compute on the way. They are computed
 * from one read statement's snapshot; nothing is reserved.
 */
import type { AtpChannelNow, Position, PromiseResult, TimePhasedAtpSku } from '../contract/atp.js';
import type { OrderPromise } from '../domain/promise.js';
import type { RulesDocument } from '../contract/rules.js';

export function promiseDto(channel: string, shipComplete: boolean, now: Date, rules: RulesDocument, p: OrderPromise): PromiseResult {
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

/** The time-phased ATP of a physical SKU (no kit, not in a unit): what GET /v1/atp answers for it. */
export type PhysicalAtp = Omit<TimePhasedAtpSku, 'kit' | 'inUnit'>;

/** A kit's time-phased ATP (from its components' rows, src/reads/kit-atp.ts). */
export type KitAtp = PhysicalAtp & Required<Pick<TimePhasedAtpSku, 'kit'>>;

/** The now-view of one SKU's ATP (totals, per location, for a channel after its rules): the time-phased row before its dates. */
export type AtpNow = Omit<PhysicalAtp, 'byDate' | 'inbound' | 'locations' | 'channel'> & {
  locations: (Position & { rank: number })[];
  channel?: AtpChannelNow;
};

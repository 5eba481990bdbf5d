/**
 * The answers about the future, as shapes: POST /v1/promise (earliest dates per line and for the
 * whole order) and the time-phased part of GET /v1/atp. They are computed from one read
 * statement's snapshot by src/reads/promise.ts and src/reads/atp.ts; nothing is reserved.
 */
import type { OrderPromise } from '../domain/promise.js';
import type { RulesDocument } from '../contract/rules.js';
import type { PositionDto } from './positions.js';

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

/** The now-view of one SKU's ATP (totals, per location, for a channel after its rules). */
export interface AtpSku {
  sku: string;
  onHand: number;
  reserved: number;
  qualityHold: number;
  safetyStock: number;
  available: number;
  locations: (PositionDto & { rank: number })[];
  channel?: { name: string; tier: number; available: number; protectedUnits: number; capRoom: number | null; rulesVersion: number };
}

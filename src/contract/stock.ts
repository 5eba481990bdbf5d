/**
 * Stock shapes (plain zod; types by z.infer): a count (PUT /v1/inventory/{sku}/{location}),
 * locations, and the stock-control answers — the consistency report (GET /v1/consistency), the
 * replenishment lines (GET /v1/replenishment), a reconciliation's request and result (POST
 * /v1/reconciliations), computed by src/services/stock/. The `id` in `.meta()` names each shape
 * in /openapi.json.
 */
import { z } from 'zod';
import { Count, LocationId, Qty, Sku, StoredText } from './fields.js';

export const MAX_SNAPSHOT_ROWS = 10_000;

/** A count of one position (the SKU and location are the path's). */
export const SetPosition = z
  .object({
    onHand: Count,
    qualityHold: Count.optional(),
    safetyStock: Count.optional(),
    reorderPoint: Count.nullable().optional().describe('replenishment: order when projected stock (onHand + inbound − reserved − backorders) is at or below this; null clears it'),
    reorderQty: Qty.nullable().optional().describe('replenishment: the lot size to order'),
    reason: StoredText(200).optional(),
  })
  .strict()
  .meta({ id: 'SetPosition' });

export const LocationInput = z
  .object({ name: StoredText(200).optional(), rank: z.number().int().min(0).max(1_000_000).optional() })
  .strict()
  .meta({ id: 'LocationInput' });
export const Location = z.object({ id: z.string(), name: z.string().nullable(), rank: z.number().int() }).meta({ id: 'Location' });

/** One stored aggregate that disagrees with what it is derived from. */
export const Breach = z
  .object({
    /** reserved-vs-allocations, ledger-vs-onhand, supply-vs-backorders, holds-vs-allocations, oversold, status-vs-allocations */
    check: z.string(),
    subject: z.string(),
    expected: z.union([z.number(), z.string()]),
    actual: z.union([z.number(), z.string()]),
  })
  .meta({ id: 'Breach' });

export const ConsistencyReport = z
  .object({
    ok: z.boolean(),
    checkedAt: z.string(),
    checked: z.object({ positions: z.number().int(), supplies: z.number().int(), channelHolds: z.number().int(), reservations: z.number().int() }),
    breaches: z.array(Breach),
  })
  .meta({ id: 'ConsistencyReport' });

export const ReplenishmentLine = z
  .object({
    sku: z.string(),
    location: z.string(),
    onHand: z.number().int(),
    inbound: z.number().int(),
    reserved: z.number().int(),
    backordered: z.number().int(),
    projected: z.number().int(),
    reorderPoint: z.number().int(),
    reorderQty: z.number().int(),
    suggestedQty: z.number().int(),
  })
  .meta({ id: 'ReplenishmentLine' });

export const ReconciliationRequest = z
  .object({
    snapshot: z
      .array(z.object({ sku: Sku, location: LocationId, onHand: z.number().int('must be a whole number of base units').min(0).max(1_000_000_000) }).strict())
      .min(1)
      .max(MAX_SNAPSHOT_ROWS, `at most ${MAX_SNAPSHOT_ROWS} rows per snapshot`)
      .superRefine((rows, ctx) => {
        // one count per position: a second row for the same SKU and location is refused, naming it
        const first = new Map<string, number>();
        rows.forEach((r, i) => {
          const k = `${r.sku}\u0000${r.location}`;
          const j = first.get(k);
          if (j === undefined) first.set(k, i);
          else ctx.addIssue({ code: 'custom', path: [i], message: `${r.sku} at ${r.location} is listed twice (first at snapshot.${j}); send one count per position` });
        });
      })
      .describe('one row per (sku, location): a position listed twice is refused (400 naming each repeated row)'),
    apply: z.boolean().default(false),
    complete: z.boolean().default(false).describe('true: the snapshot is a full count of its locations; positions there that it does not list count as 0'),
    reason: StoredText(200).default('reconciliation'),
  })
  .strict()
  .meta({ id: 'ReconciliationRequest' });

/** A position whose warehouse count differs from onHand. */
export const Gap = z
  .object({
    sku: z.string(),
    location: z.string(),
    serviceOnHand: z.number().int(),
    warehouseOnHand: z.number().int(),
    delta: z.number().int(),
    reserved: z.number().int(),
    qualityHold: z.number().int(),
    /** the warehouse count is below what is reserved + held: reservations must be re-sourced */
    overCommitted: z.boolean(),
    applied: z.boolean(),
    /** what happened on apply: 'adjusted', 'short-pick' (re-sourced through the short-pick path), or why not */
    outcome: z.string().optional(),
  })
  .meta({ id: 'ParityGap' });

export const ReconciliationResult = z
  .object({ compared: z.number().int(), applied: z.number().int(), gaps: z.array(Gap) })
  .meta({ id: 'ReconciliationResult' });

export type SetPosition = z.infer<typeof SetPosition>;
export type LocationInput = z.infer<typeof LocationInput>;
export type Location = z.infer<typeof Location>;
export type ReconciliationRequest = z.infer<typeof ReconciliationRequest>;
export type Breach = z.infer<typeof Breach>;
export type ConsistencyReport = z.infer<typeof ConsistencyReport>;
export type ReplenishmentLine = z.infer<typeof ReplenishmentLine>;
export type Gap = z.infer<typeof Gap>;
export type ReconciliationResult = z.infer<typeof ReconciliationResult>;

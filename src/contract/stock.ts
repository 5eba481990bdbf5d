/**
 * Stock-control answers (plain zod; types by z.infer): the consistency report (GET
 * /v1/consistency), the replenishment lines (GET /v1/replenishment) and a reconciliation's
 * result (POST /v1/reconciliations). Computed by src/services/stock/stock-control.ts; the `id` in
 * `.meta()` names each shape in /openapi.json.
 */
import { z } from 'zod';

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

export type Breach = z.infer<typeof Breach>;
export type ConsistencyReport = z.infer<typeof ConsistencyReport>;
export type ReplenishmentLine = z.infer<typeof ReplenishmentLine>;
export type Gap = z.infer<typeof Gap>;
export type ReconciliationResult = z.infer<typeof ReconciliationResult>;

/**
 * The catalog shapes (plain zod; types by z.infer): a kit (a SKU made of component SKUs) and the
 * pack units of a SKU, as PUT answers and GET shows them, and their requests. Kept by
 * src/services/catalog/catalog.ts; the `id` in `.meta()` names each shape in /openapi.json.
 */
import { z } from 'zod';
import { Qty, Sku, UnitName } from './fields.js';

export const Kit = z
  .object({ sku: z.string(), components: z.array(z.object({ sku: z.string(), qty: z.number().int() })) })
  .meta({ id: 'Kit' });
export const KitInput = z
  .object({ components: z.array(z.object({ sku: Sku, qty: Qty }).strict()).min(1, 'a kit has at least one component').max(50, 'at most 50 components') })
  .strict()
  .meta({ id: 'KitInput' });
export const Units = z
  .object({ sku: z.string(), baseUnit: z.string(), units: z.array(z.object({ unit: z.string(), factor: z.number().int() })) })
  .meta({ id: 'Units' });
export const UnitsInput = z
  .object({ units: z.array(z.object({ unit: UnitName, factor: z.number().int('base units per pack must be a whole number').min(2).max(1_000_000) }).strict()).max(20) })
  .strict()
  .meta({ id: 'UnitsInput' });

export type Kit = z.infer<typeof Kit>;
export type KitInput = z.infer<typeof KitInput>;
export type Units = z.infer<typeof Units>;
export type UnitsInput = z.infer<typeof UnitsInput>;

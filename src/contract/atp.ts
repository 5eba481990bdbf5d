/**
 * Stock shapes exchanged by the HTTP API and the events (plain zod; types by z.infer). The `id`
 * in `.meta()` names the shape in both documents: a component of /openapi.json and a `$defs`
 * entry of docs/events.schema.json.
 */
import { z } from 'zod';

/** One stock position (SKU at a location), as GET /v1/inventory and inventory.adjusted show it. */
export const Position = z
  .object({
    sku: z.string(),
    location: z.string(),
    onHand: z.number().int(),
    reserved: z.number().int(),
    qualityHold: z.number().int(),
    safetyStock: z.number().int(),
    available: z.number().int(),
  })
  .meta({ id: 'Position' });
export type Position = z.infer<typeof Position>;

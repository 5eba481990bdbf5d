/**
 * The path and query parameters of the supply routes. Their bodies and answers (the supply, a
 * supply change, receipts, re-plan moves, short picks, a reservation's changes, the promise and
 * the time-phased ATP) are defined once in src/contract/ (plain zod, named there with `.meta()`)
 * and re-exported here for the routes.
 */
import { z } from '@hono/zod-openapi';
import { PromiseRequest, PromiseResult, TimePhasedAtpSku } from '../contract/atp.js';
import { Sku } from '../contract/fields.js';
import {
  AffectedReservation,
  AllocationMove,
  CancelSupply,
  CreateSupply,
  ReceiptRequest,
  ReservationChange,
  ShortPickRequest,
  ShortPickResult,
  Supply,
  SupplyChange,
  SupplyStatus,
  UpdateSupply,
} from '../contract/supply.js';

export {
  AffectedReservation,
  AllocationMove,
  CancelSupply,
  CreateSupply,
  PromiseRequest,
  PromiseResult,
  ReceiptRequest,
  ReservationChange,
  ShortPickRequest,
  ShortPickResult,
  Supply,
  SupplyChange,
  TimePhasedAtpSku,
  UpdateSupply,
};

export const SupplyIdParams = z.object({
  id: z.uuid('must be a supply id (uuid)').openapi({ param: { name: 'id', in: 'path' } }),
});

export const SupplyListQuery = z.object({
  sku: Sku.optional().openapi({ param: { name: 'sku', in: 'query' } }),
  status: SupplyStatus.optional().meta({ param: { name: 'status', in: 'query' } }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ param: { name: 'limit', in: 'query' } }),
});

/**
 * The fields requests are built from, and the service's published bounds (plain zod): a SKU, a
 * location id, quantities, stored free text, a channel, a pack unit, an instant. The examples in
 * `.meta()` show in /openapi.json; the request shapes in this folder are made of these.
 */
import { z } from 'zod';
import { ChannelName, NAME_RE } from './rules.js';

export const MAX_QTY = 1_000_000;
export const MAX_LINES = 200;
export const MAX_HOLD_SECONDS = 7 * 24 * 3600;
export const MAX_ATP_SKUS = 100;

/**
 * Free text the service stores (orderRef, reasons, names): any Unicode except what Postgres text
 * and jsonb cannot hold — NUL (U+0000) and unpaired UTF-16 surrogates. Those are refused as bad
 * input (400) instead of failing inside the database (a 500).
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
export const StoredText = (max: number) =>
  z.string().min(1).max(max).refine((s) => !UNSTORABLE.test(s), 'must not contain NUL characters or unpaired surrogates');

export const Sku = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:\-]*$/, 'letters, digits, . _ : - (starting with a letter or digit)')
  .meta({ example: 'SKU-1' });
export const LocationId = z.string().regex(NAME_RE, 'letters, digits, . _ : - ; at most 64 characters').meta({ example: 'DC1' });
export const Qty = z.number().int('must be a whole number of base units').min(1, 'must be at least 1').max(MAX_QTY, `must be at most ${MAX_QTY}`);
export const Count = z.number().int('must be a whole number of base units').min(0, 'must not be negative').max(1_000_000_000, 'must be at most 1000000000');
export const Channel = ChannelName.meta({ example: 'web' });
export const UnitName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, _ or -; at most 32 characters').meta({ example: 'case' });

/** A quantity in `unit` (default: the base unit, where it must be whole); converted to base units by the catalog. */
export const UnitQty = z.number().positive('must be more than 0').max(MAX_QTY, `must be at most ${MAX_QTY}`);
export const wholeWithoutUnit = (l: { qty: number; unit?: string | undefined }, ctx: z.RefinementCtx) => {
  if ((l.unit === undefined || l.unit === 'each') && !Number.isInteger(l.qty)) ctx.addIssue({ code: 'custom', path: ['qty'], message: 'must be a whole number of base units' });
};

/** An ISO 8601 date-time with offset, between the years 2000 and 9999. */
export const Instant = z.iso
  .datetime({ offset: true, error: 'an ISO 8601 date-time with offset, e.g. 2026-12-01T00:00:00Z' })
  .refine((v) => {
    const y = new Date(v).getUTCFullYear();
    return y >= 2000 && y <= 9999;
  }, 'must fall between the years 2000 and 9999 (UTC)')
  .meta({ example: '2026-12-01T00:00:00Z' });

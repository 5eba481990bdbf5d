/**
 * The problem document every refusal is answered with (application/problem+json, RFC 9457),
 * plain zod; built by src/http/problem.ts from a domain error (its code, the title of
 * http/problem-types.ts, and its facts as extension members).
 */
import { z } from 'zod';

/**
 * RFC 9457 problem details plus `code`, and every extension member the service sends (each present
 * only with the codes named in its description). Closed: a new extension member is documented here.
 */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ field: z.string(), reason: z.string() }))
      .optional()
      .describe('validation-failed, malformed-json, idempotency-key-required, kit-holds-no-stock, unknown-location, hold-would-shorten: each bad field (`body.lines.0.qty`, `query.sku`, `header.Idempotency-Key` …) and why'),
    lines: z
      .array(
        z.object({
          sku: z.string(),
          requested: z.number().int(),
          available: z.number().int().optional().describe('insufficient-stock, channel-limit: what this caller may have now'),
          reason: z.enum(['insufficient-stock', 'protected', 'channel-cap', 'location-not-allowed']).optional(),
          location: z.string().optional(),
          line: z.number().int().optional().describe('index of the caller\'s line (`body.lines.<line>`)'),
          components: z
            .array(
              z.object({
                sku: z.string(),
                requested: z.number().int(),
                available: z.number().int(),
                reason: z.enum(['insufficient-stock', 'protected', 'channel-cap', 'location-not-allowed']),
              }),
            )
            .optional()
            .describe('for a kit line (sku = the kit, requested/available in kits): the components that fall short, in base units'),
          held: z.number().int().optional().describe('exceeds-held: what the reservation holds of this SKU (`kit/component` for a kit line)'),
        }),
      )
      .optional()
      .describe('insufficient-stock, channel-limit, exceeds-held: the lines that could not be served'),
    rulesVersion: z.number().int().optional().describe('channel-limit: the rules version that held the lines back'),
    currentVersion: z.number().int().optional().describe('precondition-failed (PUT /v1/rules): the version in force'),
    reservationStatus: z.string().optional().describe('invalid-state: the reservation status that refused the change'),
    expiresAt: z.string().nullable().optional().describe('hold-would-shorten: when the hold ends now (null: it never expires)'),
    allow: z.array(z.string()).optional().describe('method-not-allowed (405): the methods the path serves, as in the Allow header'),
    supplyStatus: z.string().optional().describe('invalid-state: the supply status that refused the change'),
    receivedQty: z.number().int().optional().describe('invalid-state (supply): units already received'),
    remaining: z.number().int().optional().describe('over-receipt: units the supply still expects'),
    sku: z.string().optional().describe('would-overcommit: the position'),
    location: z.string().optional(),
    onHand: z.number().int().optional(),
    reserved: z.number().int().optional(),
    qualityHold: z.number().int().optional(),
    limit: z.string().optional().describe('rate-limited (429): the setting whose limit the key exceeded, e.g. ATP_READ_RATE_PER_KEY'),
    perSecond: z.number().optional().describe('rate-limited: the limit, requests per second per key'),
    burst: z.number().optional().describe('rate-limited: the burst the limit allows'),
  })
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof Problem>;

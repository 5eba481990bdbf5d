/**
 * The channel-priority rules document (DESIGN.md "rules"). Validated by zod on PUT; the server
 * sets `version`. Tiers: 1 is the highest priority. `protect[t]` units (or a share of onHand)
 * may be taken only by tiers ≤ t (nested booking limits).
 */
// plain zod (src/contract/ is transport-neutral): http/routes/rules.ts names these schemas for the
// OpenAPI document with zod's own .meta(), which works whatever module was imported first
import { z } from 'zod';

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$/;
export const Tier = z.number().int().min(1).max(9);
export const ChannelName = z.string().regex(NAME_RE, 'letters, digits, . _ : - ; at most 64 characters');

/** units, or `{ share }` of the SKU's total onHand */
export const ProtectAmount = z.union([
  z.number().int().min(0).max(1_000_000_000),
  z.object({ share: z.number().min(0).max(1) }).strict(),
]);
export const ProtectMap = z.record(z.string().regex(/^[1-9]$/, 'a tier 1–9'), ProtectAmount);

export const Caps = {
  /** most units this channel may hold reserved of one SKU */
  maxUnits: z.number().int().min(0).max(1_000_000_000).optional(),
  /** most share of the SKU's total onHand this channel may hold reserved */
  maxShare: z.number().min(0).max(1).optional(),
};

export const ChannelRule = z
  .object({
    tier: Tier.optional(),
    ...Caps,
    /** locations this channel may ship from; absent = all */
    locations: z.array(z.string().min(1).max(64)).max(1000).optional(),
  })
  .strict();

export const SkuRule = z
  .object({
    protect: ProtectMap.optional(),
    channels: z.record(ChannelName, z.object(Caps).strict()).optional(),
  })
  .strict();

export const RulesInput = z
  .object({
    defaultTier: Tier.default(3),
    channels: z.record(ChannelName, ChannelRule).default({}),
    protect: ProtectMap.default({}),
    skus: z.record(z.string().min(1).max(128), SkuRule).default({}),
  })
  .strict();

export const RulesDocument = RulesInput.extend({
  version: z.number().int().min(0),
  updatedAt: z.string().optional(),
});

export type RulesInput = z.infer<typeof RulesInput>;
export type RulesDocument = z.infer<typeof RulesDocument>;
export type ProtectAmount = z.infer<typeof ProtectAmount>;

/** The rules in force before anyone sets any: everyone tier 3, nothing protected, no caps. */
export const DEFAULT_RULES: RulesDocument = { version: 0, defaultTier: 3, channels: {}, protect: {}, skus: {} };

/**
 * Pure evaluation of a rules document for one (SKU, channel): the tier, the units the channel
 * must leave for higher tiers, its cap, and the locations it may use. Used by the allocation
 * decision and by the channel view of ATP, so both answer the same way.
 */
import type { ProtectAmount, RulesDocument } from './schema.js';

export interface ChannelPolicy {
  tier: number;
  /** units protected for tiers above this channel's, given the SKU's total onHand */
  protectedUnits(totalOnHand: number): number;
  /** most units this channel may hold reserved of the SKU, given total onHand; Infinity = no cap */
  cap(totalOnHand: number): number;
  /** allowed locations, or undefined for all */
  locations: ReadonlySet<string> | undefined;
}

const units = (amount: ProtectAmount, totalOnHand: number) =>
  typeof amount === 'number' ? amount : Math.floor(amount.share * totalOnHand);

export function tierOf(rules: RulesDocument, channel: string): number {
  return rules.channels[channel]?.tier ?? rules.defaultTier;
}

export function policyFor(rules: RulesDocument, sku: string, channel: string): ChannelPolicy {
  const tier = tierOf(rules, channel);
  const skuRule = rules.skus[sku];
  // per-SKU entries override the defaults tier by tier (and cap by cap)
  const protect = { ...rules.protect, ...(skuRule?.protect ?? {}) };
  const base = rules.channels[channel];
  const override = skuRule?.channels?.[channel];
  const maxUnits = override?.maxUnits ?? base?.maxUnits;
  const maxShare = override?.maxShare ?? base?.maxShare;
  return {
    tier,
    protectedUnits(totalOnHand) {
      let sum = 0;
      for (const [t, amount] of Object.entries(protect)) if (Number(t) < tier) sum += units(amount, totalOnHand);
      return sum;
    },
    cap(totalOnHand) {
      let cap = Number.POSITIVE_INFINITY;
      if (maxUnits !== undefined) cap = Math.min(cap, maxUnits);
      if (maxShare !== undefined) cap = Math.min(cap, Math.floor(maxShare * totalOnHand));
      return cap;
    },
    locations: base?.locations ? new Set(base.locations) : undefined,
  };
}

/** Whether any cap could apply to this channel for this SKU (so holds must be loaded). */
export function hasCap(rules: RulesDocument, sku: string, channel: string): boolean {
  const base = rules.channels[channel];
  const override = rules.skus[sku]?.channels?.[channel];
  return [base?.maxUnits, base?.maxShare, override?.maxUnits, override?.maxShare].some((v) => v !== undefined);
}

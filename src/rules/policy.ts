/**
 * Pure evaluation of a rules document for one (SKU, channel): the tier, the units the channel
 * must leave for higher tiers, its cap, and the locations it may use. Used by the allocation
 * decision and by the channel view of ATP, so both answer the same way.
 *
 * Compiled once per rules version: a rules document is immutable once in force (every change is a
 * new document with a new version), so the policy of a (SKU, channel) is built on first use and
 * kept with the document (a WeakMap: it goes when the document goes). SKUs without an entry of
 * their own share their channel's policy, so the memory is bounded by channels × SKUs with rules.
 */
import type { ProtectAmount, RulesDocument } from '../contract/rules.js';

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

const compiled = new WeakMap<RulesDocument, Map<string, ChannelPolicy>>();
/** Past this many compiled policies for one document, start over (channel names come from callers). */
const MAX_COMPILED = 10_000;

export function policyFor(rules: RulesDocument, sku: string, channel: string): ChannelPolicy {
  let cache = compiled.get(rules);
  if (!cache) {
    // the cache is only right while the document never changes: make that a fact, not a hope
    deepFreeze(rules);
    compiled.set(rules, (cache = new Map()));
  }
  const key = rules.skus[sku] ? `${channel}\u0000${sku}` : channel;
  let policy = cache.get(key);
  if (!policy) {
    if (cache.size >= MAX_COMPILED) cache.clear();
    cache.set(key, (policy = compilePolicy(rules, sku, channel)));
  }
  return policy;
}

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}

function compilePolicy(rules: RulesDocument, sku: string, channel: string): ChannelPolicy {
  const tier = tierOf(rules, channel);
  const skuRule = rules.skus[sku];
  // per-SKU entries override the defaults tier by tier (and cap by cap)
  const protect = { ...rules.protect, ...(skuRule?.protect ?? {}) };
  const base = rules.channels[channel];
  const override = skuRule?.channels?.[channel];
  const maxUnits = override?.maxUnits ?? base?.maxUnits;
  const maxShare = override?.maxShare ?? base?.maxShare;
  const above = Object.entries(protect)
    .filter(([t]) => Number(t) < tier)
    .map(([, amount]) => amount);
  return {
    tier,
    protectedUnits(totalOnHand) {
      let sum = 0;
      for (const amount of above) sum += units(amount, totalOnHand);
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

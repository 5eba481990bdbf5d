/**
 * The rules evaluated for one (SKU, channel), worked examples with the expected figures computed
 * by hand (DESIGN.md "The rules document"): tier lookup with the default, nested protection
 * (Σ protect[t] for t < p, units or floor(share × onHand)), per-SKU overrides tier by tier and cap
 * by cap, caps as the smaller of maxUnits and floor(maxShare × onHand), location limits.
 */
import { expect, it } from 'vitest';
import { hasCap, policyFor, tierOf } from '../../src/rules/policy.js';
import { DEFAULT_RULES, type RulesDocument } from '../../src/contract/rules.js';

const rules: RulesDocument = {
  version: 3,
  defaultTier: 3,
  channels: {
    web: { tier: 1 },
    b2b: { tier: 2, locations: ['DC1', 'DC2'] },
    marketplace: { tier: 3, maxShare: 0.2 },
    store: { tier: 4, maxUnits: 30 },
    outlet: { maxUnits: 50, maxShare: 0.5 },
  },
  protect: { '1': 50, '2': 20, '3': { share: 0.1 } },
  skus: {
    'FLASH-1': { protect: { '1': 500 }, channels: { marketplace: { maxUnits: 100 }, web: { maxShare: 0.25 } } },
    'SHARE-1': { channels: { marketplace: { maxShare: 0.05 } } },
    'PROTECT-ONLY': { protect: { '2': 1 } },
  },
};

it('tierOf: a listed channel has its tier; an unlisted one, or one listed without a tier, gets defaultTier', () => {
  expect(tierOf(rules, 'web')).toBe(1);
  expect(tierOf(rules, 'b2b')).toBe(2);
  expect(tierOf(rules, 'store')).toBe(4);
  expect(tierOf(rules, 'unknown')).toBe(3);
  expect(tierOf(rules, 'outlet')).toBe(3);
  expect(tierOf({ ...rules, defaultTier: 7 }, 'outlet')).toBe(7);
});

it('policyFor: protection: tier p leaves Σ protect[t] for t < p (shares of the total onHand, rounded down)', () => {
  // tier 1: nothing above it
  expect(policyFor(rules, 'X', 'web').protectedUnits(1000)).toBe(0);
  // tier 2: protect[1] = 50
  expect(policyFor(rules, 'X', 'b2b').protectedUnits(1000)).toBe(50);
  // tier 3: 50 + 20
  expect(policyFor(rules, 'X', 'marketplace').protectedUnits(1000)).toBe(70);
  // tier 4: 50 + 20 + floor(0.1 × 1000) = 170; floor(0.1 × 999) = 99 → 169
  expect(policyFor(rules, 'X', 'store').protectedUnits(1000)).toBe(170);
  expect(policyFor(rules, 'X', 'store').protectedUnits(999)).toBe(169);
  expect(policyFor(rules, 'X', 'store').protectedUnits(0)).toBe(70);
});

it('policyFor: protection: per-SKU protection overrides the default tier by tier, the other tiers keep the default', () => {
  // FLASH-1: protect[1] = 500 (override), protect[2] = 20, protect[3] = 10 % (defaults)
  expect(policyFor(rules, 'FLASH-1', 'web').protectedUnits(1000)).toBe(0);
  expect(policyFor(rules, 'FLASH-1', 'b2b').protectedUnits(1000)).toBe(500);
  expect(policyFor(rules, 'FLASH-1', 'marketplace').protectedUnits(1000)).toBe(520);
  expect(policyFor(rules, 'FLASH-1', 'store').protectedUnits(1000)).toBe(620);
});

it('policyFor: protection: no rules: nothing protected, no cap, every location', () => {
  const p = policyFor(DEFAULT_RULES, 'X', 'web');
  expect(p.tier).toBe(3);
  expect(p.protectedUnits(100)).toBe(0);
  expect(p.cap(100)).toBe(Number.POSITIVE_INFINITY);
  expect(p.locations).toBeUndefined();
});

it('policyFor: caps and locations: maxUnits, floor(maxShare × onHand), or the smaller of both', () => {
  expect(policyFor(rules, 'X', 'web').cap(1000)).toBe(Number.POSITIVE_INFINITY);
  expect(policyFor(rules, 'X', 'store').cap(1000)).toBe(30);
  expect(policyFor(rules, 'X', 'marketplace').cap(1000)).toBe(200);
  expect(policyFor(rules, 'X', 'marketplace').cap(99)).toBe(19);
  // outlet: min(50, floor(0.5 × onHand))
  expect(policyFor(rules, 'X', 'outlet').cap(60)).toBe(30);
  expect(policyFor(rules, 'X', 'outlet').cap(200)).toBe(50);
  expect(policyFor(rules, 'X', 'outlet').cap(100)).toBe(50);
});

it('policyFor: caps and locations: a per-SKU cap overrides the channel’s cap of the same kind and keeps the other kind', () => {
  // FLASH-1 marketplace: maxUnits 100 (SKU) and maxShare 0.2 (channel)
  expect(policyFor(rules, 'FLASH-1', 'marketplace').cap(1000)).toBe(100);
  expect(policyFor(rules, 'FLASH-1', 'marketplace').cap(300)).toBe(60);
  // SHARE-1 marketplace: maxShare 0.05 replaces 0.2
  expect(policyFor(rules, 'SHARE-1', 'marketplace').cap(1000)).toBe(50);
  // FLASH-1 web: a SKU-only cap on an uncapped channel
  expect(policyFor(rules, 'FLASH-1', 'web').cap(1000)).toBe(250);
  // a SKU entry with protection only keeps the channel's caps
  expect(policyFor(rules, 'PROTECT-ONLY', 'store').cap(1000)).toBe(30);
  expect(policyFor(rules, 'PROTECT-ONLY', 'store').protectedUnits(1000)).toBe(151);
  // a SKU entry for another channel changes nothing for this one
  expect(policyFor(rules, 'FLASH-1', 'store').cap(1000)).toBe(30);
});

it('policyFor: caps and locations: locations: the listed set, or undefined for all', () => {
  expect([...policyFor(rules, 'X', 'b2b').locations!].sort()).toEqual(['DC1', 'DC2']);
  expect(policyFor(rules, 'X', 'web').locations).toBeUndefined();
  expect(policyFor(rules, 'X', 'unknown').locations).toBeUndefined();
});

it('hasCap: true when any cap (channel or per-SKU, units or share) could apply', () => {
  expect(hasCap(rules, 'X', 'web')).toBe(false);
  expect(hasCap(rules, 'X', 'b2b')).toBe(false);
  expect(hasCap(rules, 'X', 'unknown')).toBe(false);
  expect(hasCap(rules, 'X', 'store')).toBe(true);
  expect(hasCap(rules, 'X', 'marketplace')).toBe(true);
  expect(hasCap(rules, 'FLASH-1', 'web')).toBe(true);
  expect(hasCap(rules, 'SHARE-1', 'web')).toBe(false);
  expect(hasCap(rules, 'PROTECT-ONLY', 'store')).toBe(true);
  expect(hasCap(rules, 'PROTECT-ONLY', 'web')).toBe(false);
  expect(hasCap({ ...DEFAULT_RULES, skus: { S: { channels: { c: { maxUnits: 0 } } } } }, 'S', 'c')).toBe(true);
  expect(hasCap({ ...DEFAULT_RULES, channels: { c: { maxShare: 0 } } }, 'S', 'c')).toBe(true);
});

it('policyFor: compiled policies are kept per document up to 10,000, then the cache starts over', () => {
  const doc: RulesDocument = { ...DEFAULT_RULES, version: 1 };
  const first = policyFor(doc, 'X', 'c0');
  expect(policyFor(doc, 'Y', 'c0')).toBe(first);
  for (let i = 1; i < 10_000; i++) policyFor(doc, 'X', `c${i}`);
  expect(policyFor(doc, 'X', 'c0')).toBe(first); // 10,000 kept
  policyFor(doc, 'X', 'c10000'); // the 10,001st: the cache starts over
  const again = policyFor(doc, 'X', 'c0');
  expect(again).not.toBe(first);
  expect(again.tier).toBe(3);
});

/**
 * Rules are compiled once per version (issue 14, lean front): the policy of a channel is built on
 * first use and reused while that document is in force; a new document (a new version) gets its
 * own policies; a document in force cannot be changed in place (it would leave stale policies).
 */
import { expect, it } from 'vitest';
import { policyFor } from '../src/rules/policy.js';
import type { RulesDocument } from '../src/contract/rules.js';

const doc = (protect1: number): RulesDocument => ({
  version: protect1,
  defaultTier: 3,
  channels: { web: { tier: 1 }, marketplace: { tier: 3, maxUnits: 5, locations: ['DC1'] } },
  protect: { '1': protect1, '2': 20 },
  skus: { 'FLASH-1': { protect: { '1': 500 } } },
});

it('reuses the compiled policy of a channel while the document is in force', () => {
  const rules = doc(50);
  const a = policyFor(rules, 'SKU-A', 'marketplace');
  expect(policyFor(rules, 'SKU-B', 'marketplace')).toBe(a); // no per-SKU entry: the channel's policy
  expect(a.protectedUnits(1000)).toBe(70);
  expect(a.cap(1000)).toBe(5);
  expect([...a.locations!]).toEqual(['DC1']);
  // a SKU with an entry of its own has its own policy
  const flash = policyFor(rules, 'FLASH-1', 'marketplace');
  expect(flash).not.toBe(a);
  expect(flash.protectedUnits(1000)).toBe(520);
});

it('a new version gets new policies, and a document in force cannot be changed in place', () => {
  const v1 = doc(50);
  expect(policyFor(v1, 'SKU-A', 'marketplace').protectedUnits(100)).toBe(70);
  const v2 = doc(10);
  expect(policyFor(v2, 'SKU-A', 'marketplace').protectedUnits(100)).toBe(30);
  expect(() => {
    (v1.protect as Record<string, number>)['1'] = 0;
  }).toThrow(TypeError);
  expect(policyFor(v1, 'SKU-A', 'marketplace').protectedUnits(100)).toBe(70);
});

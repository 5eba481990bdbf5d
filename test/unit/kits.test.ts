/**
 * domain/kits.ts: how many whole kits the components allow — the fewest any component allows,
 * rounded down, never negative; a kit of no components allows none. Literal expectations.
 */
import { expect, it } from 'vitest';
import { kitsAvailable } from '../../src/domain/kits.js';

const stock = (m: Record<string, number>) => (sku: string) => m[sku] ?? 0;

it('kits: the scarcest component decides, in whole kits (rounded down)', () => {
  expect(kitsAvailable([{ sku: 'A', qty: 2 }, { sku: 'B', qty: 3 }], stock({ A: 10, B: 10 }))).toBe(3);
  expect(kitsAvailable([{ sku: 'A', qty: 2 }, { sku: 'B', qty: 3 }], stock({ A: 5, B: 100 }))).toBe(2);
  expect(kitsAvailable([{ sku: 'A', qty: 4 }], stock({ A: 3 }))).toBe(0);
});

it('kits: a missing or oversold component allows none (never a negative count); no components, no kits', () => {
  expect(kitsAvailable([{ sku: 'A', qty: 1 }, { sku: 'B', qty: 1 }], stock({ A: 7 }))).toBe(0);
  expect(kitsAvailable([{ sku: 'A', qty: 1 }, { sku: 'B', qty: 2 }], stock({ A: 7, B: -4 }))).toBe(0);
  expect(kitsAvailable([], stock({ A: 7 }))).toBe(0);
});

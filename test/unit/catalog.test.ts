/**
 * The pure catalog view (src/domain/catalog.ts): kits become their components, pack units become
 * base units, and every refusal names the field the caller wrote. Expected values are written out
 * literally (the contract, not a copy of the code). Top-level `it`s only: this file is in the
 * mutation set (vitest.mutation.config.ts; see docs/TESTING.md for why no `describe`).
 */
import { expect, it } from 'vitest';
import { BASE_UNIT, CatalogView, timesFactor } from '../../src/domain/catalog.js';
import { ValidationFailed } from '../../src/domain/errors.js';

const view = () =>
  new CatalogView(
    new Map([['KIT', [{ sku: 'A', qty: 2 }, { sku: 'B', qty: 3 }]]]),
    new Map([
      ['A', new Map([['case', 12], ['pack', 4]])],
      ['KIT', new Map([['box', 5]])],
    ]),
  );

/** The field errors of a refusal (throws if `fn` does not refuse with ValidationFailed). */
function refusal(fn: () => unknown): { field: string; reason: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationFailed);
    return (err as ValidationFailed).errors;
  }
  throw new Error('expected a refusal');
}

it('the base unit is "each"; a kit is named by its components; an empty view knows no kit and only the base unit', () => {
  expect(BASE_UNIT).toBe('each');
  expect(view().kitOf('KIT')).toEqual([{ sku: 'A', qty: 2 }, { sku: 'B', qty: 3 }]);
  expect(view().kitOf('A')).toBeUndefined();
  const empty = new CatalogView();
  expect(empty.kitOf('KIT')).toBeUndefined();
  expect(empty.unitsOf('A')).toEqual([{ unit: 'each', factor: 1 }]);
  expect(empty.factor('A', 'case')).toBeUndefined();
});

it('units of a SKU: the base unit first, then by factor', () => {
  expect(view().unitsOf('A')).toEqual([{ unit: 'each', factor: 1 }, { unit: 'pack', factor: 4 }, { unit: 'case', factor: 12 }]);
  expect(view().unitsOf('B')).toEqual([{ unit: 'each', factor: 1 }]);
});

it('factor: 1 without a unit and for the base unit, the pack size of a known unit, undefined for another', () => {
  expect(view().factor('A', undefined)).toBe(1);
  expect(view().factor('A', 'each')).toBe(1);
  expect(view().factor('B', 'each')).toBe(1);
  expect(view().factor('A', 'case')).toBe(12);
  expect(view().factor('A', 'box')).toBeUndefined();
  expect(view().factor('Z', 'case')).toBeUndefined();
});

it('timesFactor: exact decimal figures, whole only when exactly whole', () => {
  expect(timesFactor(3, 5)).toEqual({ text: '15', whole: 15 });
  expect(timesFactor(0.2, 12)).toEqual({ text: '2.4', whole: undefined });
  expect(timesFactor(0.25, 4)).toEqual({ text: '1', whole: 1 });
  expect(timesFactor(0.5, 1)).toEqual({ text: '0.5', whole: undefined });
  expect(timesFactor(1.05, 20)).toEqual({ text: '21', whole: 21 });
  expect(timesFactor(0.125, 3)).toEqual({ text: '0.375', whole: undefined });
  expect(timesFactor(0, 7)).toEqual({ text: '0', whole: 0 });
  expect(timesFactor(2.5, 10)).toEqual({ text: '25', whole: 25 });
  expect(timesFactor(12.01, 100)).toEqual({ text: '1201', whole: 1201 });
  // a fraction's leading zeros stay; a fraction far below 1e-9 of a unit is still not whole
  expect(timesFactor(0.05, 1)).toEqual({ text: '0.05', whole: undefined });
  expect(timesFactor(1.005, 2)).toEqual({ text: '2.01', whole: undefined });
  expect(timesFactor(10.0000000001, 1)).toEqual({ text: '10.0000000001', whole: undefined });
});

it('timesFactor in exponent notation: binary noise rounded away for the message, whole within 1e-9', () => {
  expect(timesFactor(1e-7, 3)).toEqual({ text: '3e-7', whole: undefined });
  expect(timesFactor(1e21, 2)).toEqual({ text: '2e+21', whole: 2e21 });
  expect(timesFactor(1e-10, 1)).toEqual({ text: '1e-10', whole: 0 });
});

it('expand: a plain line keeps its SKU, quantity and location and names its line', () => {
  expect(view().expand([{ sku: 'B', qty: 4, location: 'DC1' }, { sku: 'A', qty: 1 }], 'body.lines', 1000)).toEqual([
    { sku: 'B', qty: 4, location: 'DC1', unit: undefined, line: 0 },
    { sku: 'A', qty: 1, location: undefined, unit: undefined, line: 1 },
  ]);
});

it('expand: a pack unit becomes base units and says which unit; "each" named explicitly is no unit', () => {
  expect(view().expand([{ sku: 'A', qty: 2, unit: 'case' }, { sku: 'A', qty: 3, unit: 'each' }], 'body.lines', 1000)).toEqual([
    { sku: 'A', qty: 24, location: undefined, unit: { name: 'case', factor: 12 }, line: 0 },
    { sku: 'A', qty: 3, location: undefined, unit: undefined, line: 1 },
  ]);
});

it('expand: a kit line becomes one line per component (qty × per kit), naming the kit and its line', () => {
  expect(view().expand([{ sku: 'B', qty: 1 }, { sku: 'KIT', qty: 2, location: 'DC2' }], 'body.lines', 1000)).toEqual([
    { sku: 'B', qty: 1, location: undefined, unit: undefined, line: 0 },
    { sku: 'A', qty: 4, location: 'DC2', kit: { sku: 'KIT', perKit: 2 }, unit: undefined, line: 1 },
    { sku: 'B', qty: 6, location: 'DC2', kit: { sku: 'KIT', perKit: 3 }, unit: undefined, line: 1 },
  ]);
  // a kit in its own pack unit: 1 box = 5 kits
  expect(view().expand([{ sku: 'KIT', qty: 1, unit: 'box' }], 'body.lines', 1000)).toEqual([
    { sku: 'A', qty: 10, location: undefined, kit: { sku: 'KIT', perKit: 2 }, unit: { name: 'box', factor: 5 }, line: 0 },
    { sku: 'B', qty: 15, location: undefined, kit: { sku: 'KIT', perKit: 3 }, unit: { name: 'box', factor: 5 }, line: 0 },
  ]);
});

it('expand refuses an unknown unit, naming the field and the units the SKU has', () => {
  expect(refusal(() => view().expand([{ sku: 'A', qty: 1 }, { sku: 'A', qty: 1, unit: 'pallet' }], 'body.lines', 1000))).toEqual([
    { field: 'body.lines.1.unit', reason: 'A has no unit "pallet"; known: each (1), pack (4), case (12)' },
  ]);
});

it('expand refuses a quantity that is not whole base units, or less than one', () => {
  expect(refusal(() => view().expand([{ sku: 'B', qty: 0.5 }], 'body.lines', 1000))).toEqual([
    { field: 'body.lines.0.qty', reason: '0.5 each is 0.5 base units; must be a whole number of at least 1' },
  ]);
  expect(refusal(() => view().expand([{ sku: 'A', qty: 0.2, unit: 'case' }], 'x', 1000))).toEqual([
    { field: 'x.0.qty', reason: '0.2 case is 2.4 base units; must be a whole number of at least 1' },
  ]);
  expect(refusal(() => view().expand([{ sku: 'B', qty: 0 }], 'body.lines', 1000))).toEqual([
    { field: 'body.lines.0.qty', reason: '0 each is 0 base units; must be a whole number of at least 1' },
  ]);
  // exactly whole after the factor is fine
  expect(view().expand([{ sku: 'A', qty: 0.25, unit: 'pack' }], 'body.lines', 1000)).toEqual([{ sku: 'A', qty: 1, location: undefined, unit: { name: 'pack', factor: 4 }, line: 0 }]);
});

it('expand refuses more base units than the maximum, for a line and for a kit component; every error at once', () => {
  expect(view().expand([{ sku: 'A', qty: 100 }], 'body.lines', 100)).toEqual([{ sku: 'A', qty: 100, location: undefined, unit: undefined, line: 0 }]);
  expect(refusal(() => view().expand([{ sku: 'A', qty: 9, unit: 'case' }, { sku: 'KIT', qty: 40 }, { sku: 'B', qty: 101 }], 'body.lines', 100))).toEqual([
    { field: 'body.lines.0.qty', reason: '9 case is 108 base units; at most 100' },
    { field: 'body.lines.2.qty', reason: '101 each is 101 base units; at most 100' },
    { field: 'body.lines.1.qty', reason: '40 × 3 B per kit exceeds 100 base units' },
  ]);
  // a component exactly at the maximum is allowed, one past it is not
  expect(view().expand([{ sku: 'KIT', qty: 33 }], 'l', 99).map((l) => l.qty)).toEqual([66, 99]);
  expect(refusal(() => view().expand([{ sku: 'KIT', qty: 50 }], 'l', 100))).toEqual([{ field: 'l.0.qty', reason: '50 × 3 B per kit exceeds 100 base units' }]);
});

it('baseQuantities: pack units to base units without expanding kits; a stored factor answers first', () => {
  expect(view().baseQuantities([{ sku: 'KIT', qty: 2 }, { sku: 'A', qty: 1, unit: 'case' }], 'body.lines', 1000)).toEqual([
    { sku: 'KIT', qty: 2 },
    { sku: 'A', qty: 12 },
  ]);
  const stored = (sku: string, unit: string | undefined) => (sku === 'A' && unit === 'case' ? 6 : undefined);
  expect(view().baseQuantities([{ sku: 'A', qty: 1, unit: 'case' }, { sku: 'A', qty: 1, unit: 'pack' }], 'body.lines', 1000, stored)).toEqual([
    { sku: 'A', qty: 6 },
    { sku: 'A', qty: 4 },
  ]);
  expect(refusal(() => view().baseQuantities([{ sku: 'A', qty: 1, unit: 'crate' }], 'body.lines', 1000))).toEqual([
    { field: 'body.lines.0.unit', reason: 'A has no unit "crate"; known: each (1), pack (4), case (12)' },
  ]);
});

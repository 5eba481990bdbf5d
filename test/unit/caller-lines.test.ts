/**
 * Refusals and promises in the caller's terms (src/domain/caller-lines.ts), worked by hand: the
 * core's base-unit lines grouped back into the caller's lines (a kit line = its components), and
 * short lines restated per caller line — a plain line keeps its figures and gains `line`; a kit
 * line is named as the kit, requested and available in whole kits, with its short components and
 * the most severe reason. Plus the two newest domain errors as the problem contract.
 */
import { expect, it } from 'vitest';
import { callerLines, inCallerTerms, shortByCallerLine } from '../../src/domain/caller-lines.js';
import { ChannelLimit, Conflict, InsufficientStock, KitHoldsNoStock, UnknownLocation, type ShortLine } from '../../src/domain/errors.js';
import type { LineRequest } from '../../src/domain/allocate.js';
import { problemBody } from '../../src/http/problem.js';

// caller line 0: 2 kits K (each 3 × A + 1 × B), pinned to L1; caller line 1: 5 × C
const expanded: LineRequest[] = [
  { sku: 'A', qty: 6, location: 'L1', kit: { sku: 'K', perKit: 3 }, line: 0 },
  { sku: 'B', qty: 2, location: 'L1', kit: { sku: 'K', perKit: 1 }, line: 0 },
  { sku: 'C', qty: 5, line: 1 },
];

it('callerLines: expanded lines grouped by the caller’s line, kits in kits, in line order; lines without `line` stand alone by position', () => {
  expect(callerLines([expanded[2]!, expanded[0]!, expanded[1]!])).toEqual([
    { line: 0, sku: 'K', qty: 2, location: 'L1', kit: true, parts: [expanded[0], expanded[1]] },
    { line: 1, sku: 'C', qty: 5, kit: false, parts: [expanded[2]] },
  ]);
  const plain: LineRequest[] = [{ sku: 'X', qty: 1 }, { sku: 'Y', qty: 2, location: 'L2' }];
  expect(callerLines(plain)).toEqual([
    { line: 0, sku: 'X', qty: 1, kit: false, parts: [plain[0]] },
    { line: 1, sku: 'Y', qty: 2, location: 'L2', kit: false, parts: [plain[1]] },
  ]);
  expect('location' in callerLines(plain)[0]!).toBe(false);
});

it('shortByCallerLine: a plain line keeps its figures and gains `line`; a kit line is in whole kits with its short components and the most severe reason', () => {
  const short: ShortLine[] = [
    { sku: 'A', requested: 6, available: 4, reason: 'protected', line: 0 },
    { sku: 'B', requested: 2, available: 2, reason: 'insufficient-stock', line: 0 },
    { sku: 'C', requested: 5, available: 3, reason: 'channel-cap', line: 1 },
  ];
  expect(shortByCallerLine(short, expanded)).toEqual([
    {
      sku: 'K',
      requested: 2,
      // A: floor(4 / 3) = 1 kit, B: floor(2 / 1) = 2 kits: the fewest, 1
      available: 1,
      reason: 'insufficient-stock',
      location: 'L1',
      line: 0,
      components: [
        { sku: 'A', requested: 6, available: 4, reason: 'protected' },
        { sku: 'B', requested: 2, available: 2, reason: 'insufficient-stock' },
      ],
    },
    { sku: 'C', requested: 5, available: 3, reason: 'channel-cap', line: 1 },
  ]);
  // only one component short: the kit's figure is that component's, its reason too
  expect(shortByCallerLine([{ sku: 'A', requested: 6, available: 5, reason: 'protected', line: 0 }], expanded)).toEqual([
    { sku: 'K', requested: 2, available: 1, reason: 'protected', location: 'L1', line: 0, components: [{ sku: 'A', requested: 6, available: 5, reason: 'protected' }] },
  ]);
  // severity order: location-not-allowed, insufficient-stock, channel-cap, protected
  const severe = shortByCallerLine(
    [
      { sku: 'A', requested: 6, available: 0, reason: 'channel-cap', line: 0 },
      { sku: 'B', requested: 2, available: 0, reason: 'location-not-allowed', line: 0 },
    ],
    expanded,
  );
  expect(severe[0]!.reason).toBe('location-not-allowed');
  expect(shortByCallerLine([{ sku: 'A', requested: 6, available: 0, reason: 'protected', line: 0 }, { sku: 'B', requested: 2, available: 0, reason: 'channel-cap', line: 0 }], expanded)[0]!.reason).toBe('channel-cap');
  // nothing short: nothing to say
  expect(shortByCallerLine([], expanded)).toEqual([]);
});

it('shortByCallerLine: short lines without `line` (the sold-out memory) are matched by SKU and requested is the caller’s quantity', () => {
  const plain: LineRequest[] = [{ sku: 'X', qty: 4 }, { sku: 'Y', qty: 2 }];
  expect(shortByCallerLine([{ sku: 'Y', requested: 9, available: 0, reason: 'insufficient-stock' }], plain)).toEqual([{ sku: 'Y', requested: 2, available: 0, reason: 'insufficient-stock', line: 1 }]);
  // a kit line is matched when any of its components is short
  expect(shortByCallerLine([{ sku: 'B', requested: 9, available: 1, reason: 'insufficient-stock' }], [expanded[0]!, expanded[1]!]).map((l) => [l.sku, l.available, l.line])).toEqual([['K', 1, 0]]);
});

it('inCallerTerms: insufficient-stock and channel-limit restated per caller line; other errors unchanged', () => {
  // as the sold-out memory or an older core reports it: by SKU, without `line`
  const short: ShortLine[] = [{ sku: 'C', requested: 9, available: 3, reason: 'channel-cap' }];
  const a = inCallerTerms(new InsufficientStock(short), expanded);
  expect(a).toBeInstanceOf(InsufficientStock);
  expect((a as InsufficientStock).lines).toEqual([{ sku: 'C', requested: 5, available: 3, reason: 'channel-cap', line: 1 }]);
  const b = inCallerTerms(new ChannelLimit(short, 9), expanded);
  expect(b).toBeInstanceOf(ChannelLimit);
  expect(b.facts).toEqual({ lines: [{ sku: 'C', requested: 5, available: 3, reason: 'channel-cap', line: 1 }], rulesVersion: 9 });
  const other = new Conflict('x');
  expect(inCallerTerms(other, expanded)).toBe(other);
});

it('errors: kit-holds-no-stock and unknown-location (422) name the field', () => {
  const kit = new KitHoldsNoStock('K', 'path.sku');
  const reason = 'K is a kit: it holds no stock of its own (its availability comes from its components); count or order the components instead';
  expect({ code: kit.code, status: problemBody(kit).status, title: problemBody(kit).title, message: kit.message, extra: kit.facts }).toEqual({
    code: 'kit-holds-no-stock',
    status: 422,
    title: 'A kit holds no stock of its own',
    message: `path.sku: ${reason}`,
    extra: { errors: [{ field: 'path.sku', reason }] },
  });
  const loc = new UnknownLocation([
    { field: 'lines.0.location', location: 'X1' },
    { field: 'lines.2.location', location: 'X2' },
  ]);
  const r1 = 'no location "X1": register it with PUT /v1/locations/X1 or count stock there first';
  const r2 = 'no location "X2": register it with PUT /v1/locations/X2 or count stock there first';
  expect({ code: loc.code, status: problemBody(loc).status, title: problemBody(loc).title, message: loc.message, extra: loc.facts }).toEqual({
    code: 'unknown-location',
    status: 422,
    title: 'Unknown location',
    message: `lines.0.location: ${r1}; lines.2.location: ${r2}`,
    extra: {
      errors: [
        { field: 'lines.0.location', reason: r1 },
        { field: 'lines.2.location', reason: r2 },
      ],
    },
  });
});

/**
 * The rules document a PUT may carry (DESIGN.md "The rules document"), boundary by boundary:
 * tiers 1–9, protect keys '1'–'9' with whole units ≥ 0 or `{ share }` in [0, 1], caps (whole
 * maxUnits ≥ 0, maxShare in [0, 1]), channel names, location lists, strict objects (an unknown
 * field is refused), defaults; and the in-process store's versioning and If-Match.
 */
import { expect, it } from 'vitest';
import { ChannelName, DEFAULT_RULES, NAME_RE, RulesDocument, RulesInput } from '../../src/contract/rules.js';
import { MemoryRulesStore } from '../../src/rules/store.js';
import { PreconditionFailed } from '../../src/domain/errors.js';

const ok = (doc: unknown) => RulesInput.safeParse(doc).success;

it('RulesInput: an empty document gets the defaults: tier 3, no channels, nothing protected, no SKU rules', () => {
  expect(RulesInput.parse({})).toEqual({ defaultTier: 3, channels: {}, protect: {}, skus: {} });
  expect(DEFAULT_RULES).toEqual({ version: 0, defaultTier: 3, channels: {}, protect: {}, skus: {} });
  expect(RulesDocument.safeParse(DEFAULT_RULES).success).toBe(true);
});

it('RulesInput: tiers are whole numbers 1–9', () => {
  for (const t of [1, 5, 9]) expect(ok({ defaultTier: t, channels: { web: { tier: t } } })).toBe(true);
  for (const t of [0, 10, 1.5, -1, '1']) {
    expect(ok({ defaultTier: t })).toBe(false);
    expect(ok({ channels: { web: { tier: t } } })).toBe(false);
  }
});

it('RulesInput: protect: keys are tiers 1–9; amounts are whole units ≥ 0 (up to 1e9) or a share in [0, 1]', () => {
  expect(ok({ protect: { '1': 0, '9': 1_000_000_000 } })).toBe(true);
  expect(ok({ protect: { '2': { share: 0 } } })).toBe(true);
  expect(ok({ protect: { '2': { share: 1 } } })).toBe(true);
  expect(ok({ protect: { '0': 5 } })).toBe(false);
  expect(ok({ protect: { '10': 5 } })).toBe(false);
  expect(ok({ protect: { a: 5 } })).toBe(false);
  expect(ok({ protect: { '11': 5 } })).toBe(false);
  expect(ok({ protect: { x1: 5 } })).toBe(false);
  const keyIssue = RulesInput.safeParse({ protect: { '0': 5 } }).error?.issues[0] as { path: unknown[]; issues?: { message: string }[] } | undefined;
  expect(keyIssue?.path).toEqual(['protect', '0']);
  expect(keyIssue?.issues?.[0]?.message).toBe('a tier 1–9');
  expect(ok({ protect: { '1': -1 } })).toBe(false);
  expect(ok({ protect: { '1': 1.5 } })).toBe(false);
  expect(ok({ protect: { '1': 1_000_000_001 } })).toBe(false);
  expect(ok({ protect: { '1': { share: 1.01 } } })).toBe(false);
  expect(ok({ protect: { '1': { share: -0.1 } } })).toBe(false);
  expect(ok({ protect: { '1': { share: 0.5, extra: 1 } } })).toBe(false);
});

it('RulesInput: caps: whole maxUnits 0–1e9, maxShare in [0, 1], on channels and per SKU', () => {
  expect(ok({ channels: { m: { maxUnits: 0, maxShare: 0 } } })).toBe(true);
  expect(ok({ channels: { m: { maxUnits: 1_000_000_000, maxShare: 1 } } })).toBe(true);
  expect(ok({ channels: { m: { maxUnits: -1 } } })).toBe(false);
  expect(ok({ channels: { m: { maxUnits: 2.5 } } })).toBe(false);
  expect(ok({ channels: { m: { maxUnits: 1_000_000_001 } } })).toBe(false);
  expect(ok({ channels: { m: { maxShare: 1.5 } } })).toBe(false);
  expect(ok({ channels: { m: { maxShare: -0.5 } } })).toBe(false);
  expect(ok({ skus: { A: { channels: { m: { maxUnits: 3, maxShare: 0.5 } } } } })).toBe(true);
  expect(ok({ skus: { A: { channels: { m: { maxUnits: -3 } } } } })).toBe(false);
  expect(ok({ skus: { A: { channels: { m: { maxShare: 2 } } } } })).toBe(false);
  // a per-SKU channel entry takes caps only
  expect(ok({ skus: { A: { channels: { m: { tier: 1 } } } } })).toBe(false);
});

it('RulesInput: locations: 1–64 characters each, at most 1000', () => {
  expect(ok({ channels: { b2b: { locations: ['DC1', 'x'.repeat(64)] } } })).toBe(true);
  expect(ok({ channels: { b2b: { locations: [] } } })).toBe(true);
  expect(ok({ channels: { b2b: { locations: [''] } } })).toBe(false);
  expect(ok({ channels: { b2b: { locations: ['x'.repeat(65)] } } })).toBe(false);
  expect(ok({ channels: { b2b: { locations: Array.from({ length: 1000 }, (_, i) => `L${i}`) } } })).toBe(true);
  expect(ok({ channels: { b2b: { locations: Array.from({ length: 1001 }, (_, i) => `L${i}`) } } })).toBe(false);
});

it('RulesInput: channel names: a letter or digit, then letters, digits, . _ : - ; 64 at most', () => {
  for (const n of ['web', 'B2B', '9', 'b2b.eu:1_x-y', 'x'.repeat(64)]) {
    expect(ChannelName.safeParse(n).success).toBe(true);
    expect(NAME_RE.test(n)).toBe(true);
    expect(ok({ channels: { [n]: {} } })).toBe(true);
  }
  for (const n of ['', '-web', '.web', 'web site', 'we/b', 'x'.repeat(65), 'ü']) {
    expect(ChannelName.safeParse(n).success).toBe(false);
    expect(ok({ channels: { [n]: {} } })).toBe(false);
  }
  expect(ChannelName.safeParse('bad name').error?.issues[0]?.message).toBe('letters, digits, . _ : - ; at most 64 characters');
});

it('RulesInput: SKU keys are 1–128 characters; every object is strict', () => {
  expect(ok({ skus: { ['s'.repeat(128)]: {} } })).toBe(true);
  expect(ok({ skus: { ['s'.repeat(129)]: {} } })).toBe(false);
  expect(ok({ skus: { '': {} } })).toBe(false);
  expect(ok({ unknown: 1 })).toBe(false);
  expect(ok({ channels: { web: { tier: 1, priority: 2 } } })).toBe(false);
  expect(ok({ skus: { A: { protect: {}, other: 1 } } })).toBe(false);
  expect(ok({ skus: { A: { channels: { m: { maxUnits: 1, other: 1 } } } } })).toBe(false);
});

it('RulesInput: a stored document carries a whole version ≥ 0 and an optional updatedAt', () => {
  expect(RulesDocument.safeParse({ ...DEFAULT_RULES, version: 4, updatedAt: '2030-01-01T00:00:00Z' }).success).toBe(true);
  expect(RulesDocument.safeParse({ ...DEFAULT_RULES, version: -1 }).success).toBe(false);
  expect(RulesDocument.safeParse({ ...DEFAULT_RULES, version: 1.5 }).success).toBe(false);
  expect(RulesDocument.safeParse({ defaultTier: 3 }).success).toBe(false);
});

it('MemoryRulesStore: starts at version 0 with the defaults; each put adds 1; If-Match must name the current version', async () => {
  const s = new MemoryRulesStore();
  await s.start();
  expect(s.current()).toEqual(DEFAULT_RULES);
  expect(s.status()).toEqual({ source: 'memory', state: 'fresh', version: 0, ageSeconds: 0, loaded: true });
  const input = RulesInput.parse({ channels: { web: { tier: 1 } } });
  const v1 = await s.put(input);
  expect(v1).toMatchObject({ ...input, version: 1 });
  expect(typeof v1.updatedAt).toBe('string');
  expect(Number.isNaN(Date.parse(v1.updatedAt!))).toBe(false);
  expect(s.current()).toBe(v1);
  expect(s.status().version).toBe(1);
  const v2 = await s.put(RulesInput.parse({}), 1);
  expect(v2.version).toBe(2);
  const stale = s.put(RulesInput.parse({ defaultTier: 1 }), 1);
  await expect(stale).rejects.toBeInstanceOf(PreconditionFailed);
  await expect(stale).rejects.toMatchObject({ message: 'rules are at version 2, not 1', facts: { currentVersion: 2 } });
  expect(s.current()).toBe(v2);
  await s.stop();
});

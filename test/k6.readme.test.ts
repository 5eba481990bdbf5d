/**
 * bench/k6/README.md's examples work with the service as it is: the keys its k6 commands pass are
 * keys the service accepts (at least 16 characters) with the scope each one needs, as set by the
 * ATP_API_KEYS the same README starts the service with; and it says how to get k6 and how runs
 * that share a Redis keep apart (their own ATP_RULES_KEY and ATP_EVENTS_STREAM).
 * (Before: `ADMIN_KEY=adminkey`, `OMS_KEY=omskey`, which no service can be started with.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { KeyRing, requireScope } from '../src/http/auth.js';

const README = readFileSync(path.resolve(import.meta.dirname, '../bench/k6/README.md'), 'utf8');
const sh = [...README.matchAll(/^```sh[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1]!).join('\n');

it('the keys the k6 examples pass are accepted by a service started as the README starts it, with the scope each needs', () => {
  const spec = /ATP_API_KEYS='([^']+)'/.exec(sh)?.[1];
  expect(spec, 'the README shows the ATP_API_KEYS the service is started with').toBeDefined();
  const keys = new KeyRing(spec); // throws on a key shorter than 16 characters
  const runs = sh.split('\n').filter((l) => /^\s*k6 run\b/.test(l) && /-e (?:ADMIN|OMS)_KEY=/.test(l));
  expect(runs.length).toBeGreaterThanOrEqual(2);
  for (const line of runs) {
    const admin = /-e ADMIN_KEY=(\S+)/.exec(line)?.[1];
    const oms = /-e OMS_KEY=(\S+)/.exec(line)?.[1];
    expect(admin!.length, line).toBeGreaterThanOrEqual(16);
    expect(oms!.length, line).toBeGreaterThanOrEqual(16);
    expect(() => requireScope(keys.authenticate(`Bearer ${admin}`), 'admin'), line).not.toThrow();
    expect(() => requireScope(keys.authenticate(`Bearer ${oms}`), 'oms'), line).not.toThrow();
  }
});

it('it says how to get k6 (built from source with Go) and how runs sharing a Redis keep apart', () => {
  expect(sh).toMatch(/\bgo build\b/);
  expect(sh).toMatch(/ATP_RULES_KEY=\S+/);
  expect(sh).toMatch(/ATP_EVENTS_STREAM=\S+/);
  expect(README).not.toMatch(/\/work\//); // no machine paths
});

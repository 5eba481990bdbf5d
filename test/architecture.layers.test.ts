/**
 * Layer directions (docs/ARCHITECTURE.md, issue 18): dependency-cruiser checks src/ against the
 * rules in .dependency-cruiser.cjs — domain/ imports no transport, I/O layer or HTTP/OpenAPI
 * package; rules/ and events/ import nothing from http/ and no Hono/OpenAPI package; db/ imports
 * nothing from http/, services/ or reads/; contract/ is plain zod; domain/ takes from rules/ only
 * the pure policy module; rules/, events/ and reads/ import nothing from services/; the
 * reservation path (services/reservations/) nothing from the other service groups; no import
 * cycles (type-only imports count).
 *
 * The second test proves each rule can fail: it cruises a small tree written for the purpose, in
 * which every rule is broken once, and expects each rule to name its breach.
 */
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { afterAll, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A package is named by where it resolved (node_modules may be a symlink): keep the package name only. */
const packageNamed = (v: string) => v.replace(/(?:\S*\/)?node_modules\/((?:@[^/]+\/)?[^/\s]+)\S*/, 'node_modules/$1');

async function violationsIn(baseDir: string): Promise<string[]> {
  const options: ICruiseOptions = { ...(await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'))), baseDir, validate: true };
  const { output } = await cruise(['src'], options);
  const result = output as ICruiseResult;
  return result.summary.violations.map((v) =>
    v.cycle ? `${v.rule.name}: ${[v.from, ...v.cycle.map((c) => c.name)].join(' → ')}` : `${v.rule.name}: ${v.from} → ${v.to}`,
  );
}

it('src/ keeps its layer directions and has no import cycles', async () => {
  const found = (await violationsIn(ROOT)).map(packageNamed);
  expect(found, `layer violations:\n  ${found.join('\n  ')}`).toEqual([]);
});

let fixture: string | undefined;
afterAll(async () => {
  if (fixture) await rm(fixture, { recursive: true, force: true });
});

it('each rule names a breach of it (the check can fail)', async () => {
  fixture = await mkdtemp(join(tmpdir(), 'layers-'));
  await symlink(join(ROOT, 'node_modules'), join(fixture, 'node_modules'), 'dir');
  const files: Record<string, string> = {
    'src/http/schemas.ts': "export const x = 1;\n",
    'src/services/verb.ts': "export const v = 1;\n",
    'src/services/catalog.ts': "export const k = 1;\n",
    'src/rules/policy.ts': "export const p = 1;\n",
    'src/rules/store.ts': "import { v } from '../services/verb.js';\nexport const s = v;\n",
    'src/domain/promise.ts': "import { p } from '../rules/policy.js';\nimport { s } from '../rules/store.js';\nexport const q = p + s;\n",
    'src/events/relay.ts': "import { v } from '../services/verb.js';\nexport const e2 = v;\n",
    'src/reads/atp.ts': "import { k } from '../services/catalog.js';\nimport { v } from '../services/verb.js';\nexport const r2 = k + v;\n",
    'src/domain/allocate.ts': "import { x } from '../http/schemas.js';\nimport type { Hono } from 'hono';\nexport const y: number = x; export type H = Hono;\n",
    'src/events/types.ts': "import { z } from '@hono/zod-openapi';\nexport const e = z.string();\n",
    'src/rules/schema.ts': "import { x } from '../http/schemas.js';\nexport const r = x;\n",
    'src/db/client.ts': "import { v } from '../services/verb.js';\nexport const d = v;\n",
    'src/contract/reservation.ts': "import { d } from '../db/client.js';\nexport const c = d;\n",
    'src/services/stock/count.ts': "export const n = 1;\n",
    'src/services/reservations/reserve.ts': "import { n } from '../stock/count.js';\nexport const rs = n;\n",
    'src/reads/a.ts': "import { b } from './b.js';\nexport const a = 1 + b;\n",
    'src/reads/b.ts': "import { a } from './a.js';\nexport const b = 1; export const ab = () => a;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(fixture, path)), { recursive: true });
    await writeFile(join(fixture, path), text);
  }
  const found = await violationsIn(fixture);
  const expected = [
    'domain-is-pure: src/domain/allocate.ts → src/http/schemas.ts',
    'domain-is-pure: src/domain/allocate.ts → node_modules/hono',
    'rules-and-events-know-no-http: src/events/types.ts → node_modules/@hono/zod-openapi',
    'rules-and-events-know-no-http: src/rules/schema.ts → src/http/schemas.ts',
    'db-is-below-the-verbs: src/db/client.ts → src/services/verb.ts',
    'contract-is-plain-zod: src/contract/reservation.ts → src/db/client.ts',
    'no-cycles: src/reads/a.ts → src/reads/b.ts → src/reads/a.ts',
    'domain-uses-only-the-rules-policy: src/domain/promise.ts → src/rules/store.ts',
    'rules-know-no-services: src/rules/store.ts → src/services/verb.ts',
    'events-know-no-services: src/events/relay.ts → src/services/verb.ts',
    'reads-know-no-services: src/reads/atp.ts → src/services/verb.ts',
    'reads-know-no-services: src/reads/atp.ts → src/services/catalog.ts',
    'reservation-path-stands-alone: src/services/reservations/reserve.ts → src/services/stock/count.ts',
  ];
  const normal = found.map(packageNamed).filter((f, i, all) => all.indexOf(f) === i);
  for (const e of expected) expect(normal, `missing: ${e}\nfound:\n  ${found.join('\n  ')}`).toContain(e);
  // a cycle is reported once per module in it; nothing else is reported
  expect(normal.filter((f) => !expected.includes(f) && !f.startsWith('no-cycles: src/reads/'))).toEqual([]);
});

/**
 * Every code a domain error can carry has a row in the one code → status/title table
 * (src/http/problem-types.ts): a code added to the catalogue (src/domain/errors.ts), a subclass
 * with a new code, or a new code passed to `new DomainError(…)` / `new Unavailable(…)` anywhere in
 * src/ without a row fails here (an unmapped code would be answered as a bare 500).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import * as errors from '../src/domain/errors.js';
import { DomainError, DOMAIN_ERROR_CODES, UNAVAILABLE_CODES } from '../src/domain/errors.js';
import { problemBody } from '../src/http/problem.js';
import { DOMAIN_PROBLEMS, isProblemCode, problemType, TRANSPORT_PROBLEMS } from '../src/http/problem-types.js';

const SRC = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'src');

it('every code of the domain catalogue has exactly one row, and the table has no row for a code nobody raises', () => {
  const catalogue = [...DOMAIN_ERROR_CODES, ...UNAVAILABLE_CODES];
  expect(new Set(catalogue).size).toBe(catalogue.length);
  expect(Object.keys(DOMAIN_PROBLEMS).sort()).toEqual([...catalogue].sort());
  for (const code of UNAVAILABLE_CODES) expect(problemType(code), code).toEqual({ status: 503, title: 'Service temporarily unavailable' });
  for (const code of Object.keys(TRANSPORT_PROBLEMS)) expect(catalogue, `${code} is both a domain and a transport code`).not.toContain(code);
});

it('every domain error class builds a code with a row, and its problem document carries that status', () => {
  const samples: DomainError[] = [
    new errors.ValidationFailed([{ field: 'body.x', reason: 'bad' }]),
    new errors.InsufficientStock([]),
    new errors.ChannelLimit([], 1),
    new errors.KitHoldsNoStock('K', 'path.sku'),
    new errors.UnknownLocation([{ field: 'lines.0.location', location: 'X' }]),
    new errors.NotFound('reservation', 'r'),
    new errors.InvalidState('x'),
    new errors.HoldWouldShorten(10, null),
    new errors.ExceedsHeld('x'),
    new errors.WouldOvercommit('x'),
    new errors.OverReceipt('x', { remaining: 1 }),
    new errors.IdempotencyKeyRequired(),
    new errors.IdempotencyKeyReused(),
    new errors.Unauthorized(),
    new errors.Forbidden('x'),
    new errors.PreconditionFailed('x'),
    new errors.Overloaded('x'),
    new errors.RateLimited('L', 1, 1, 1),
    new errors.Unavailable('x'),
    new errors.BadRequest('x'),
    new errors.Conflict('x'),
  ];
  const classes = Object.entries(errors).filter(([, v]) => typeof v === 'function' && v.prototype instanceof DomainError);
  expect(samples.map((s) => s.name).sort(), 'a sample of every exported class').toEqual(classes.map(([name]) => name).sort());
  for (const s of samples) {
    expect(isProblemCode(s.code), `${s.name}: ${s.code}`).toBe(true);
    expect(problemBody(s).status).toBe(problemType(s.code).status);
  }
});

/** Code literals given to a DomainError, TransportProblem or Unavailable constructor anywhere in src/ (the forms the classes use). */
async function codesInSource(): Promise<{ file: string; code: string }[]> {
  const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith('.ts'));
  const found: { file: string; code: string }[] = [];
  for (const file of files) {
    const text = await readFile(join(SRC, file), 'utf8');
    for (const m of text.matchAll(/new (?:DomainError|TransportProblem)\(\s*'([^']+)'|super\(\s*'([a-z-]+)'/g)) found.push({ file, code: (m[1] ?? m[2])! });
    for (const m of text.matchAll(/new Unavailable\((?:[^()]|\([^()]*\))*?,\s*\d+,\s*'([^']+)'\s*,?\s*\)/g)) found.push({ file, code: m[1]! });
  }
  return found;
}

it('every code literal raised in src/ has a row (the transport problems of app.ts and Unavailable codes included)', async () => {
  const found = await codesInSource();
  expect(found.map((f) => f.code)).toEqual(expect.arrayContaining(['payload-too-large', 'method-not-allowed', 'internal', 'lock-timeout', 'deadline-exceeded', 'rules-unavailable']));
  const unmapped = found.filter((f) => !isProblemCode(f.code)).map((f) => `${f.file}: ${f.code}`);
  expect(unmapped).toEqual([]);
});

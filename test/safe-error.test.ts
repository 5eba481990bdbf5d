/** What the 500 handler logs: never drizzle's query parameters, even when a value imitates a stack frame. */
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { expect, it } from 'vitest';
import { safeError } from '../src/logger.js';

it('logs the failed statement and the frames, never the parameters', () => {
  const secret = 'caller-secret-7f3a';
  const forged = `x\n    at forged (/app/x.js:1:1), ${secret}-after-forged-frame`;
  const err = new DrizzleQueryError('select * from t where a = $1 and b = $2', [secret, forged], Object.assign(new Error('boom'), { code: 'XX000' }));
  const logged = safeError(err);
  const text = JSON.stringify(logged);
  expect(text).not.toContain(secret);
  expect(logged.message).toBe('Failed query: select * from t where a = $1 and b = $2\nparams: [redacted]');
  expect(logged.stack).toMatch(/^Error: Failed query: select \* from t where a = \$1 and b = \$2\nparams: \[redacted\]\n\s+at /);
  expect(logged.stack).toContain('safe-error.test.ts');
  expect(logged).toMatchObject({ code: 'XX000', cause: 'boom' });
});

it('keeps an ordinary error whole, and withholds a stack whose head was rewritten', () => {
  const plain = new TypeError('cannot read x');
  expect(safeError(plain)).toMatchObject({ name: 'TypeError', message: 'cannot read x', stack: plain.stack });
  const odd = new DrizzleQueryError('select $1', ['secret-value'], undefined);
  odd.stack = `Rewritten head\n${odd.message}\n    at somewhere`;
  expect(JSON.stringify(safeError(odd))).not.toContain('secret-value');
});

it('redacts a wrapped drizzle error in the cause, and copes with odd throwables', () => {
  const inner = new DrizzleQueryError('select $1', ['nested-secret'], undefined);
  const outer = new Error('batch failed', { cause: inner });
  const logged = safeError(outer);
  expect(JSON.stringify(logged)).not.toContain('nested-secret');
  expect(logged.cause).toBe('Failed query: select $1\nparams: [redacted]');

  const empty = new Error();
  expect(safeError(empty).stack).toBe(empty.stack); // "Error\n    at …": nothing to cut, frames kept
  const odd = Object.assign(new Error('x'), { message: 42 });
  expect(safeError(odd).stack).toMatch(/withheld/);
  expect(safeError('a thrown string with secret-string')).toEqual({ name: 'thrown string' });
  expect(safeError(null)).toEqual({ name: 'thrown null' });
});

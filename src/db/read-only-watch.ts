/**
 * Notice statements that fail with SQLSTATE 25006 (read_only_sql_transaction): the connection
 * that ran them is on a node that takes no writes — a hot standby it should never have stayed on
 * (generations.ts), or a primary that is itself read-only.
 */
import { errorCode } from './errors.js';

/** 25006: the statement needed a writable node. Looks through drizzle's error wrapper. */
export const isReadOnlyError = (err: unknown): boolean => errorCode(err) === '25006';

type Then = (this: unknown, ...args: unknown[]) => unknown;
type Thenable = { then: Then };
type Client = { unsafe: (...args: never[]) => unknown; begin: (...args: never[]) => Promise<unknown> };
type Writable<K extends string, F> = { [key in K]: F };

/**
 * Make the query `q` (a postgres.js PendingQuery: lazy, with `.values()` and friends) report its
 * rejection to `seen` before its consumer gets it. The object itself is returned, not a new
 * promise, so the driver's query API and its laziness (nothing runs before the first `then`) stay.
 */
function observed<Q extends Thenable>(q: Q, seen: (err: unknown) => void): Q {
  const then = q.then;
  q.then = function (this: unknown, ...args: unknown[]) {
    const [ok, fail] = args as [unknown, ((e: unknown) => unknown) | undefined];
    return then.call(this, ok, (err: unknown) => {
      seen(err);
      if (typeof fail === 'function') return fail(err);
      throw err;
    });
  };
  return q;
}

/**
 * Calls `onReadOnly` whenever a statement of `client` fails with 25006: a statement run on its
 * own (`unsafe`, which drizzle uses for every statement), a statement of a transaction the client
 * opens (`begin`'s transaction handle), or the transaction as a whole. Mutates `client.unsafe` and
 * `client.begin` in place (apply before boundTransactions, which wraps `begin` again).
 * Concurrency: `onReadOnly` is called synchronously from the rejection, once per consumer of the
 * failed statement, so it must be cheap and idempotent (Generations.replace is). Errors: every
 * result and rejection reaches the caller unchanged; `onReadOnly` must not throw.
 */
export function watchReadOnly(client: Client, onReadOnly: () => void): void {
  const seen = (err: unknown) => {
    if (isReadOnlyError(err)) onReadOnly();
  };
  const watchUnsafe = (c: { unsafe: (...args: never[]) => unknown }) => {
    const unsafe = c.unsafe.bind(c) as (...args: unknown[]) => unknown;
    (c as unknown as Writable<'unsafe', (...args: unknown[]) => unknown>).unsafe = (...args: unknown[]) => {
      const q = unsafe(...args);
      return q && typeof (q as Thenable).then === 'function' ? observed(q as Thenable, seen) : q;
    };
  };
  watchUnsafe(client);
  const begin = client.begin.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as Writable<'begin', (...args: unknown[]) => Promise<unknown>>).begin = (...args: unknown[]) => {
    const fn = args[args.length - 1] as (sql: { unsafe: (...a: never[]) => unknown }) => unknown;
    const watched = (sql: { unsafe: (...a: never[]) => unknown }) => {
      watchUnsafe(sql);
      return fn(sql);
    };
    const work = begin(...args.slice(0, -1), watched);
    work.catch(seen);
    return work;
  };
}

/**
 * A session Postgres ends for idling (25P03 idle_in_transaction_session_timeout, 3 ×
 * statement_timeout here; 57P05 idle_session_timeout) is a lost connection: the statement that
 * receives it wrote nothing (the session's open transaction is rolled back with it), so it is
 * answered 503 `database-unavailable` with Retry-After — not 500.
 *
 * Found by the failover rounds (2026-11-29, a pg-stop round; docs/RELIABILITY.md "Runs 12–14"):
 * the frozen primary's idle-in-transaction timers fired when it was resumed (the 15 s had passed
 * while it was stopped), and a catalog read of POST /v1/reservations, outside any transaction,
 * received such a session's 25P03 (postgres.js hands a FATAL that arrived under a query to the
 * connection's next query: docs/RELIABILITY.md "Fixed: after a failover …") → 500 `internal`,
 * and the rounds' contract check stopped the run. Reproduced on a private node by freezing a pool
 * transaction's backend past the timeout while its next statement was in flight: the pool's next
 * plain statement received 25P03 in some passes; in others the connection failed its statements
 * with CONNECT_TIMEOUT (already a 503). That reproduction depends on the driver's timing, so the
 * mapping itself is what is tested here.
 */
import { expect, it } from 'vitest';
import { mapDatabaseError } from '../src/db/errors.js';
import { statusOf } from '../src/http/problem.js';

const mapped = (err: unknown) => {
  const m = mapDatabaseError(err);
  return m && { status: statusOf(m), code: m.code, retryAfter: m.retryAfter };
};

it('25P03 (the session ended for idling in a transaction) maps to 503 database-unavailable', async () => {
  expect(mapped(Object.assign(new Error('terminating connection due to idle-in-transaction timeout'), { code: '25P03' }))).toEqual({ status: 503, code: 'database-unavailable', retryAfter: 2 });
  expect(mapped(Object.assign(new Error('terminating connection due to idle-session timeout'), { code: '57P05' }))).toEqual({ status: 503, code: 'database-unavailable', retryAfter: 2 });
});

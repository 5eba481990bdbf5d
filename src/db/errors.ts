/**
 * The one function that maps Postgres and driver errors to domain errors, and the predicate for
 * retryable ones. SQLSTATEs: 40001 serialization_failure, 40P01 deadlock_detected (retried);
 * 55P03 lock_not_available (lock_timeout), 57014 query_canceled (statement_timeout) → 503;
 * 23505 unique_violation, 23514 check_violation → 409; connection loss / admin shutdown / starting up
 * or shutting down (57P01–57P03, 08xxx), a session ended for idling (25P03, 57P05) and a read-only
 * node (25006) → 503 with Retry-After;
 * 22021 / 22P05 (text Postgres cannot store: NUL, bad Unicode) → 400 (a backstop: schemas refuse it first).
 */
import { BadRequest, Conflict, DomainError, Unavailable } from '../domain/errors.js';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown (pg_terminate_backend, restart)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down)
  // the server ended the session (its open transaction rolled back, the statement that receives
  // it wrote nothing): idle_in_transaction_session_timeout — e.g. a frozen primary resumed, whose
  // timers fire at once (failover rounds, pg-stop) — and idle_session_timeout
  '25P03',
  '57P05',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/**
 * The node answers but cannot take writes: 25006 read_only_sql_transaction (a hot standby, a
 * session or database with default_transaction_read_only). pg_auto_failover restarts a demoted
 * primary as a standby, which ends its sessions; new connections are opened with
 * target_session_attrs=primary, so a retry reaches the new primary.
 */
const READ_ONLY_CODES = new Set(['25006']);

/** SQLSTATE or driver code of an error, looking through drizzle's DrizzleQueryError wrapper. */
export function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isRetryable(err: unknown): boolean {
  const code = errorCode(err);
  return code === '40001' || code === '40P01';
}

export function isConnectionError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && CONNECTION_CODES.has(code);
}

/** Domain error for a database failure, or undefined when it is not one we recognise (a bug → 500). */
export function mapDatabaseError(err: unknown): DomainError | undefined {
  if (err instanceof DomainError) return err;
  const code = errorCode(err);
  if (!code) return undefined;
  if (code === '55P03') return new Unavailable('a lock wait exceeded lock_timeout; retry with the same Idempotency-Key', 1, 'lock-timeout');
  if (code === 'ATP_TRANSACTION_STALLED') return new Unavailable('the database did not finish the transaction in time (connection lost or stalled, e.g. during a failover); retry with the same Idempotency-Key', 1, 'timeout');
  if (code === '57014') return new Unavailable('the database did not answer within statement_timeout; retry with the same Idempotency-Key', 1, 'timeout');
  if (code === '40001' || code === '40P01') return new Unavailable('the transaction kept conflicting with others; retry with the same Idempotency-Key', 1, 'contention');
  if (CONNECTION_CODES.has(code)) return new Unavailable('the database is unreachable; retry with the same Idempotency-Key', 2, 'database-unavailable');
  if (READ_ONLY_CODES.has(code)) return new Unavailable('the database node is read-only (a standby or a demoted primary, e.g. during a failover); retry with the same Idempotency-Key', 2, 'database-read-only');
  // text the database cannot store (NUL, invalid UTF-8 / surrogates): caller data, not a fault
  if (code === '22021' || code === '22P05') return new BadRequest('the request contains characters that cannot be stored (NUL or invalid Unicode)');
  if (code === '23505') return new Conflict('a concurrent request created the same record');
  if (code === '23514') return new Conflict('the change would break a stock invariant (a CHECK constraint refused it)');
  return undefined;
}

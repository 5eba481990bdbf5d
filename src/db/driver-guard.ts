import { isConnectionError } from './errors.js';

/**
 * Guard against a known postgres.js 3.4.9 defect (porsager/postgres#1154, #1066, #1208; fixes
 * proposed in PRs #1168, #1176, #1209, not released): when a connection closes while a small write
 * is batched behind `setImmediate`, `nextWrite` later runs with `socket === null` and throws a
 * TypeError from the timer queue — an uncaught exception that kills the whole process, with every
 * in-flight request, on a routine event such as pg_terminate_backend or a database restart.
 *
 * The socket the write was for is already gone, so dropping the buffered write loses nothing that
 * was acknowledged (nothing is acknowledged before its COMMIT returns); the queries on that
 * connection fail with a connection error (→ 503) or the connect timeout. So the entry point
 * swallows exactly this error (logged) and lets any other uncaught exception end the process as
 * before. test/faults/database.test.ts is the evidence: without this guard the first
 * pg_terminate_backend killed the service; with it, every request was answered within the
 * deadline and nothing acknowledged was lost. Remove when the driver ships the guard.
 */
export function isPostgresJsClosedSocketWrite(err: unknown): boolean {
  if (!(err instanceof TypeError)) return false;
  const stack = err.stack ?? '';
  return /reading 'write'|evaluating 'socket\.write'/.test(err.message) && /nextWrite/.test(stack) && /postgres[\\/]src[\\/]connection\.js/.test(stack);
}

/**
 * A query promise rejected with a connection-loss error (57P01 admin shutdown, 57P02/57P03,
 * 08xxx, the driver's CONNECTION_*) that nobody awaited any more: its transaction had already
 * failed through a sibling query of the same pipelined round trip (or the driver's own rollback on
 * the dead connection), so the caller has its 503 and Postgres rolled the transaction back when
 * the connection went. Nothing acknowledged depends on it; ending the process for it would fail
 * every other request in flight. Seen once in five pg_terminate_backend fault runs.
 */
export function isOrphanedConnectionLoss(err: unknown, origin: string): boolean {
  return origin === 'unhandledRejection' && isConnectionError(err);
}

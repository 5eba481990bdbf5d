/**
 * The one table from a problem code to its HTTP status and title (RFC 9457: the problem `type` is
 * PROBLEM_BASE + code). Domain errors carry only their code and facts (src/domain/errors.ts); the
 * transport's own problems (malformed JSON, body too large, no such route …) are listed here too.
 * `satisfies` makes a domain code without a row a type error, and test/http.problem-types.test.ts
 * checks every code of the catalogue at run time.
 */
import type { DomainErrorCode } from '../domain/errors.js';

export const PROBLEM_BASE = 'https://atp.example.com/problems/';

export interface ProblemType {
  status: number;
  title: string;
}

const UNAVAILABLE: ProblemType = { status: 503, title: 'Service temporarily unavailable' };

/** Problems the transport raises itself: no domain decision behind them. */
export const TRANSPORT_PROBLEMS = {
  'malformed-json': { status: 400, title: 'Request body is not valid JSON' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Send Content-Type: application/json' },
  /** an HTTP error of the framework with no row of its own: its status is the framework's */
  'http-error': { status: 500, title: 'Request failed' },
  internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, ProblemType>;

export type TransportCode = keyof typeof TRANSPORT_PROBLEMS;

export const DOMAIN_PROBLEMS = {
  'validation-failed': { status: 400, title: 'Request is not valid' },
  'bad-request': { status: 400, title: 'Bad request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed for this key' },
  'not-found': { status: 404, title: 'Not found' },
  'insufficient-stock': { status: 409, title: 'Insufficient stock' },
  'channel-limit': { status: 409, title: 'Held back by channel rules' },
  'invalid-state': { status: 409, title: 'Not allowed in the current state' },
  'hold-would-shorten': { status: 409, title: 'Extend would shorten the hold' },
  'exceeds-held': { status: 409, title: 'Quantity exceeds what the reservation holds' },
  'would-overcommit': { status: 409, title: 'Change would leave reservations without stock' },
  'over-receipt': { status: 409, title: 'Receipt exceeds what the supply still expects' },
  conflict: { status: 409, title: 'Conflict' },
  'idempotency-key-required': { status: 400, title: 'Idempotency-Key header is required' },
  'precondition-failed': { status: 412, title: 'Precondition failed' },
  'kit-holds-no-stock': { status: 422, title: 'A kit holds no stock of its own' },
  'unknown-location': { status: 422, title: 'Unknown location' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency-Key was used with a different request' },
  overloaded: { status: 429, title: 'Too many requests in flight' },
  'rate-limited': { status: 429, title: 'Rate limit exceeded' },
  unavailable: UNAVAILABLE,
  'lock-timeout': UNAVAILABLE,
  timeout: UNAVAILABLE,
  contention: UNAVAILABLE,
  'database-unavailable': UNAVAILABLE,
  'database-read-only': UNAVAILABLE,
  'rules-unavailable': UNAVAILABLE,
  'rules-store-unavailable': UNAVAILABLE,
  'deadline-exceeded': UNAVAILABLE,
} as const satisfies Record<DomainErrorCode, ProblemType>;

export type ProblemCode = DomainErrorCode | TransportCode;

const TABLE: Readonly<Record<ProblemCode, ProblemType>> = { ...DOMAIN_PROBLEMS, ...TRANSPORT_PROBLEMS };

export function isProblemCode(code: string): code is ProblemCode {
  return Object.hasOwn(TABLE, code);
}

/** Status and title of a code; a code with no row is a bug, answered as `internal` (500). */
export function problemType(code: string): ProblemType {
  return isProblemCode(code) ? TABLE[code] : TRANSPORT_PROBLEMS.internal;
}

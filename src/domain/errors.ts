/**
 * Typed domain errors: each carries a stable `code` and the facts of the refusal (`facts`, e.g.
 * the short lines), never an HTTP status. `src/http/problem-types.ts` is the one table that maps
 * a code to its HTTP status and problem title; `src/http/problem.ts` turns an error into
 * application/problem+json with it.
 */

/** Every code a domain error can carry (the last segment of its problem `type`). */
export const DOMAIN_ERROR_CODES = [
  'validation-failed',
  'bad-request',
  'insufficient-stock',
  'channel-limit',
  'kit-holds-no-stock',
  'unknown-location',
  'not-found',
  'invalid-state',
  'hold-would-shorten',
  'exceeds-held',
  'would-overcommit',
  'over-receipt',
  'conflict',
  'idempotency-key-required',
  'idempotency-key-reused',
  'unauthorized',
  'forbidden',
  'precondition-failed',
  'overloaded',
  'rate-limited',
] as const;

/** The codes of `Unavailable`: a dependency failed or timed out, nothing was decided. */
export const UNAVAILABLE_CODES = [
  'unavailable',
  'lock-timeout',
  'timeout',
  'contention',
  'database-unavailable',
  'database-read-only',
  'rules-unavailable',
  'rules-store-unavailable',
  'deadline-exceeded',
] as const;

export type UnavailableCode = (typeof UNAVAILABLE_CODES)[number];
export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number] | UnavailableCode;

export type Facts = Readonly<Record<string, unknown>>;

export class DomainError extends Error {
  readonly code: DomainErrorCode;
  /** what the caller is told in words; the problem's title stands in when there is none */
  readonly detail: string | undefined;
  /** the facts of the refusal, members of the problem document (e.g. the short lines) */
  readonly facts: Facts;
  /** seconds after which the same request may succeed (overload, outage) */
  readonly retryAfter: number | undefined;

  constructor(code: DomainErrorCode, detail?: string, facts?: Facts, retryAfter?: number) {
    // A domain error is an answer, not a bug: no stack trace is captured (V8 walks the stack on
    // every `new Error`, ≈ 4 % of the service's time on the sold-out path; bench/RESULTS.md).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(detail ?? code);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = new.target.name;
    this.code = code;
    this.detail = detail;
    this.facts = facts ?? {};
    this.retryAfter = retryAfter;
  }
}

export interface FieldError {
  field: string;
  reason: string;
}

export class ValidationFailed extends DomainError {
  constructor(readonly errors: FieldError[]) {
    const first = errors[0];
    super('validation-failed', first ? `${first.field}: ${first.reason}` : undefined, { errors });
  }
}

export interface ShortLine {
  sku: string;
  requested: number;
  /** what is available to this caller now (after channel rules, in the locations it may use) */
  available: number;
  reason: 'insufficient-stock' | 'protected' | 'channel-cap' | 'location-not-allowed';
  location?: string;
  /** index of the caller's line (`body.lines.<line>`) */
  line?: number;
  /** for a kit line (sku = the kit, requested/available in kits): the components that fall short, in base units */
  components?: { sku: string; requested: number; available: number; reason: ShortLine['reason'] }[];
}

export class InsufficientStock extends DomainError {
  constructor(readonly lines: ShortLine[]) {
    super('insufficient-stock', describe(lines), { lines });
  }
}

/** Stock exists but the channel rules (protection level or cap) hold this channel back. */
export class ChannelLimit extends DomainError {
  constructor(
    readonly lines: ShortLine[],
    readonly rulesVersion: number,
  ) {
    super('channel-limit', describe(lines), { lines, rulesVersion });
  }
}

function describe(lines: ShortLine[]): string {
  return lines.map((l) => `${l.sku}: requested ${l.requested}, available ${l.available} (${l.reason})`).join('; ');
}

/** A kit is virtual (its availability comes from its components): it cannot be counted or stocked. */
export class KitHoldsNoStock extends DomainError {
  constructor(sku: string, field: string) {
    const reason = `${sku} is a kit: it holds no stock of its own (its availability comes from its components); count or order the components instead`;
    super('kit-holds-no-stock', `${field}: ${reason}`, { errors: [{ field, reason }] });
  }
}

/** A line pinned to a location the service does not know (locations: PUT /v1/locations/{id}, or a first count or supply there). */
export class UnknownLocation extends DomainError {
  constructor(lines: readonly { field: string; location: string }[]) {
    const errors = lines.map((l) => ({ field: l.field, reason: `no location "${l.location}": register it with PUT /v1/locations/${l.location} or count stock there first` }));
    super('unknown-location', errors.map((e) => `${e.field}: ${e.reason}`).join('; '), { errors });
  }
}

export class NotFound extends DomainError {
  constructor(what: string, id: string) {
    super('not-found', `${what} ${id} does not exist`);
  }
}

export class InvalidState extends DomainError {
  constructor(detail: string, facts: Facts = {}) {
    super('invalid-state', detail, facts);
  }
}

/** POST …/extend would end a hold earlier than it ends now (or put an end on a hold that has none). */
export class HoldWouldShorten extends DomainError {
  constructor(holdSeconds: number, expiresAt: string | null) {
    const reason =
      expiresAt === null
        ? 'the hold never expires; extend cannot put an end on it (release it instead)'
        : `the hold already runs until ${expiresAt}; ${holdSeconds} s from now is earlier, and extend never shortens a hold`;
    super('hold-would-shorten', `body.holdSeconds: ${reason}`, {
      errors: [{ field: 'body.holdSeconds', reason }],
      expiresAt,
    });
  }
}

export class ExceedsHeld extends DomainError {
  constructor(detail: string, facts: Facts = {}) {
    super('exceeds-held', detail, facts);
  }
}

export class WouldOvercommit extends DomainError {
  constructor(detail: string, facts: Facts = {}) {
    super('would-overcommit', detail, facts);
  }
}

/** A receipt beyond what the supply still expects (it would count stock twice). */
export class OverReceipt extends DomainError {
  constructor(detail: string, facts: Facts) {
    super('over-receipt', detail, facts);
  }
}

export class IdempotencyKeyRequired extends DomainError {
  constructor() {
    super('idempotency-key-required', 'send a unique Idempotency-Key (1–255 visible ASCII characters) with every POST that creates or changes', {
      errors: [{ field: 'header.Idempotency-Key', reason: 'required' }],
    });
  }
}

export class IdempotencyKeyReused extends DomainError {
  constructor() {
    super('idempotency-key-reused', 'this Idempotency-Key was first used with another method, path or body; use a new key for a new request');
  }
}

export class Unauthorized extends DomainError {
  constructor(detail = 'send Authorization: Bearer <key>') {
    super('unauthorized', detail);
  }
}

export class Forbidden extends DomainError {
  constructor(detail: string) {
    super('forbidden', detail);
  }
}

export class PreconditionFailed extends DomainError {
  constructor(detail: string, facts: Facts = {}) {
    super('precondition-failed', detail, facts);
  }
}

/** Load shedding: the wait would exceed the latency budget. */
export class Overloaded extends DomainError {
  constructor(detail: string, retryAfter = 1) {
    super('overloaded', detail, {}, retryAfter);
  }
}

/**
 * A caller (API key) went over a configured per-key rate limit: the problem names the limit (the
 * setting), its rate and burst, so one channel cannot starve the others and knows why.
 */
export class RateLimited extends DomainError {
  constructor(limit: string, perSecond: number, burst: number, retryAfter: number) {
    super('rate-limited', `this key made more than ${perSecond} reads/s (burst ${burst}), the limit ${limit}; retry after ${retryAfter} s`, { limit, perSecond, burst }, retryAfter);
  }
}

/** A dependency (the database) is unreachable or timed out; safe to retry with the same key. */
export class Unavailable extends DomainError {
  constructor(detail: string, retryAfter = 1, code: UnavailableCode = 'unavailable') {
    super(code, detail, {}, retryAfter);
  }
}

/** Text the database cannot store (NUL, invalid Unicode): caller data, refused. */
export class BadRequest extends DomainError {
  constructor(detail: string) {
    super('bad-request', detail);
  }
}

export class Conflict extends DomainError {
  constructor(detail: string) {
    super('conflict', detail);
  }
}

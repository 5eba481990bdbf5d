/**
 * Typed domain errors. Each has a stable `code` (also the last segment of its problem `type`)
 * and an HTTP status; `src/http/problem.ts` is the one place that turns them into
 * application/problem+json.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    detail?: string,
    /** extra members of the problem document (e.g. the short lines) */
    readonly extra: Record<string, unknown> = {},
    /** seconds, for 429/503 */
    readonly retryAfter?: number,
  ) {
    super(detail ?? title);
    this.name = new.target.name;
  }
}

export interface FieldError {
  field: string;
  reason: string;
}

export class ValidationFailed extends DomainError {
  constructor(readonly errors: FieldError[]) {
    const first = errors[0];
    super('validation-failed', 400, 'Request is not valid', first ? `${first.field}: ${first.reason}` : undefined, { errors });
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
    super('insufficient-stock', 409, 'Insufficient stock', describe(lines), { lines });
  }
}

/** Stock exists but the channel rules (protection level or cap) hold this channel back. */
export class ChannelLimit extends DomainError {
  constructor(readonly lines: ShortLine[], rulesVersion: number) {
    super('channel-limit', 409, 'Held back by channel rules', describe(lines), { lines, rulesVersion });
  }
}

function describe(lines: ShortLine[]): string {
  return lines.map((l) => `${l.sku}: requested ${l.requested}, available ${l.available} (${l.reason})`).join('; ');
}

/** A kit is virtual (its availability comes from its components): it cannot be counted or stocked. */
export class KitHoldsNoStock extends DomainError {
  constructor(sku: string, field: string) {
    const reason = `${sku} is a kit: it holds no stock of its own (its availability comes from its components); count or order the components instead`;
    super('kit-holds-no-stock', 422, 'A kit holds no stock of its own', `${field}: ${reason}`, { errors: [{ field, reason }] });
  }
}

/** A line pinned to a location the service does not know (locations: PUT /v1/locations/{id}, or a first count or supply there). */
export class UnknownLocation extends DomainError {
  constructor(lines: readonly { field: string; location: string }[]) {
    const errors = lines.map((l) => ({ field: l.field, reason: `no location "${l.location}": register it with PUT /v1/locations/${l.location} or count stock there first` }));
    super('unknown-location', 422, 'Unknown location', errors.map((e) => `${e.field}: ${e.reason}`).join('; '), { errors });
  }
}

export class NotFound extends DomainError {
  constructor(what: string, id: string) {
    super('not-found', 404, 'Not found', `${what} ${id} does not exist`);
  }
}

export class InvalidState extends DomainError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super('invalid-state', 409, 'Not allowed in the current state', detail, extra);
  }
}

/** POST …/extend would end a hold earlier than it ends now (or put an end on a hold that has none). */
export class HoldWouldShorten extends DomainError {
  constructor(holdSeconds: number, expiresAt: string | null) {
    const reason =
      expiresAt === null
        ? 'the hold never expires; extend cannot put an end on it (release it instead)'
        : `the hold already runs until ${expiresAt}; ${holdSeconds} s from now is earlier, and extend never shortens a hold`;
    super('hold-would-shorten', 409, 'Extend would shorten the hold', `body.holdSeconds: ${reason}`, {
      errors: [{ field: 'body.holdSeconds', reason }],
      expiresAt,
    });
  }
}

export class ExceedsHeld extends DomainError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super('exceeds-held', 409, 'Quantity exceeds what the reservation holds', detail, extra);
  }
}

export class WouldOvercommit extends DomainError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super('would-overcommit', 409, 'Change would leave reservations without stock', detail, extra);
  }
}

export class IdempotencyKeyRequired extends DomainError {
  constructor() {
    super('idempotency-key-required', 400, 'Idempotency-Key header is required', 'send a unique Idempotency-Key (1–255 visible ASCII characters) with every POST that creates or changes', {
      errors: [{ field: 'header.Idempotency-Key', reason: 'required' }],
    });
  }
}

export class IdempotencyKeyReused extends DomainError {
  constructor() {
    super('idempotency-key-reused', 422, 'Idempotency-Key was used with a different request', 'this Idempotency-Key was first used with another method, path or body; use a new key for a new request');
  }
}

export class Unauthorized extends DomainError {
  constructor(detail = 'send Authorization: Bearer <key>') {
    super('unauthorized', 401, 'Authentication required', detail);
  }
}

export class Forbidden extends DomainError {
  constructor(detail: string) {
    super('forbidden', 403, 'Not allowed for this key', detail);
  }
}

export class PreconditionFailed extends DomainError {
  constructor(detail: string, extra: Record<string, unknown> = {}) {
    super('precondition-failed', 412, 'Precondition failed', detail, extra);
  }
}

/** Load shedding: the wait would exceed the latency budget. */
export class Overloaded extends DomainError {
  constructor(detail: string, retryAfter = 1) {
    super('overloaded', 429, 'Too many requests in flight', detail, {}, retryAfter);
  }
}

/**
 * A caller (API key) went over a configured per-key rate limit: the problem names the limit (the
 * setting), its rate and burst, so one channel cannot starve the others and knows why.
 */
export class RateLimited extends DomainError {
  constructor(limit: string, perSecond: number, burst: number, retryAfter: number) {
    super('rate-limited', 429, 'Rate limit exceeded', `this key made more than ${perSecond} reads/s (burst ${burst}), the limit ${limit}; retry after ${retryAfter} s`, { limit, perSecond, burst }, retryAfter);
  }
}

/** A dependency (the database) is unreachable or timed out; safe to retry with the same key. */
export class Unavailable extends DomainError {
  constructor(detail: string, retryAfter = 1, code = 'unavailable') {
    super(code, 503, 'Service temporarily unavailable', detail, {}, retryAfter);
  }
}

export class Conflict extends DomainError {
  constructor(detail: string) {
    super('conflict', 409, 'Conflict', detail);
  }
}

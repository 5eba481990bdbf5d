/**
 * The domain errors are the problem+json contract (DESIGN.md "HTTP contract"): each class has a
 * stable `code` (the last segment of its problem `type`), a detail and the facts callers read as
 * extra members; the status and title come from the code's row in src/http/problem-types.ts, so
 * they are read here through `problemBody`. Expected values are written out literally here — the
 * contract, not a copy of the code.
 */
import { expect, it } from 'vitest';
import {
  ChannelLimit,
  Conflict,
  DomainError,
  BadRequest,
  ExceedsHeld,
  Forbidden,
  HoldWouldShorten,
  IdempotencyKeyRequired,
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidState,
  NotFound,
  OverReceipt,
  Overloaded,
  PreconditionFailed,
  RateLimited,
  Unauthorized,
  Unavailable,
  ValidationFailed,
  WouldOvercommit,
  type ShortLine,
} from '../../src/domain/errors.js';
import { problemBody } from '../../src/http/problem.js';

/** The error as a caller sees it: status and title from the table, the detail, the extra members (its facts). */
const shape = (e: DomainError) => {
  const { type, status, title, code, detail, ...extra } = problemBody(e);
  expect(type).toBe(`https://atp.example.com/problems/${code}`);
  return { name: e.name, code, status, title, message: detail, extra, retryAfter: e.retryAfter };
};

it('domain errors: code, status, title, detail, extra members: the base class: no status of its own, the detail defaults to the title, facts to {}, no Retry-After; name is the subclass name', () => {
  const e = new DomainError('conflict');
  expect(e).toBeInstanceOf(Error);
  expect(Object.keys(e)).not.toContain('status');
  expect(shape(e)).toEqual({ name: 'DomainError', code: 'conflict', status: 409, title: 'Conflict', message: 'Conflict', extra: {}, retryAfter: undefined });
  expect(new DomainError('conflict', 'the detail', { a: 1 }, 7)).toMatchObject({ message: 'the detail', detail: 'the detail', facts: { a: 1 }, retryAfter: 7 });
  expect(new NotFound('reservation', 'x').name).toBe('NotFound');
});

it('domain errors: code, status, title, detail, extra members: validation-failed names the first field in the detail and carries every field error', () => {
  const errors = [
    { field: 'lines.0.qty', reason: 'must be positive' },
    { field: 'channel', reason: 'required' },
  ];
  expect(shape(new ValidationFailed(errors))).toEqual({
    name: 'ValidationFailed',
    code: 'validation-failed',
    status: 400,
    title: 'Request is not valid',
    message: 'lines.0.qty: must be positive',
    extra: { errors },
    retryAfter: undefined,
  });
  // no field error: the detail is the title
  expect(shape(new ValidationFailed([])).message).toBe('Request is not valid');
});

it('domain errors: code, status, title, detail, extra members: insufficient-stock and channel-limit: 409, the short lines, a detail naming each line', () => {
  const lines: ShortLine[] = [
    { sku: 'A', requested: 5, available: 2, reason: 'insufficient-stock' },
    { sku: 'B', requested: 1, available: 0, reason: 'location-not-allowed', location: 'DC9' },
  ];
  expect(shape(new InsufficientStock(lines))).toEqual({
    name: 'InsufficientStock',
    code: 'insufficient-stock',
    status: 409,
    title: 'Insufficient stock',
    message: 'A: requested 5, available 2 (insufficient-stock); B: requested 1, available 0 (location-not-allowed)',
    extra: { lines },
    retryAfter: undefined,
  });
  const held: ShortLine[] = [{ sku: 'C', requested: 3, available: 1, reason: 'protected' }];
  expect(shape(new ChannelLimit(held, 12))).toEqual({
    name: 'ChannelLimit',
    code: 'channel-limit',
    status: 409,
    title: 'Held back by channel rules',
    message: 'C: requested 3, available 1 (protected)',
    extra: { lines: held, rulesVersion: 12 },
    retryAfter: undefined,
  });
  expect(new InsufficientStock(lines).lines).toBe(lines);
});

it('domain errors: code, status, title, detail, extra members: the other refusals', () => {
  expect(shape(new NotFound('reservation', 'r-1'))).toMatchObject({ code: 'not-found', status: 404, title: 'Not found', message: 'reservation r-1 does not exist', extra: {} });
  expect(shape(new InvalidState('already committed'))).toMatchObject({ code: 'invalid-state', status: 409, title: 'Not allowed in the current state', message: 'already committed', extra: {} });
  expect(new InvalidState('x', { status: 'released' }).facts).toEqual({ status: 'released' });
  expect(shape(new ExceedsHeld('too much'))).toMatchObject({ code: 'exceeds-held', status: 409, title: 'Quantity exceeds what the reservation holds', message: 'too much', extra: {} });
  expect(new ExceedsHeld('x', { held: 2 }).facts).toEqual({ held: 2 });
  expect(shape(new WouldOvercommit('short'))).toMatchObject({ code: 'would-overcommit', status: 409, title: 'Change would leave reservations without stock', message: 'short', extra: {} });
  expect(new WouldOvercommit('x', { by: 3 }).facts).toEqual({ by: 3 });
  expect(shape(new PreconditionFailed('stale'))).toMatchObject({ code: 'precondition-failed', status: 412, title: 'Precondition failed', message: 'stale', extra: {} });
  expect(new PreconditionFailed('x', { currentVersion: 4 }).facts).toEqual({ currentVersion: 4 });
  expect(shape(new Conflict('busy'))).toMatchObject({ code: 'conflict', status: 409, title: 'Conflict', message: 'busy', extra: {} });
  expect(shape(new Forbidden('not yours'))).toMatchObject({ code: 'forbidden', status: 403, title: 'Not allowed for this key', message: 'not yours' });
  expect(shape(new Unauthorized())).toMatchObject({ code: 'unauthorized', status: 401, title: 'Authentication required', message: 'send Authorization: Bearer <key>' });
  expect(new Unauthorized('bad key').message).toBe('bad key');
});

it('domain errors: code, status, title, detail, extra members: Idempotency-Key errors', () => {
  expect(shape(new IdempotencyKeyRequired())).toEqual({
    name: 'IdempotencyKeyRequired',
    code: 'idempotency-key-required',
    status: 400,
    title: 'Idempotency-Key header is required',
    message: 'send a unique Idempotency-Key (1–255 visible ASCII characters) with every POST that creates or changes',
    extra: { errors: [{ field: 'header.Idempotency-Key', reason: 'required' }] },
    retryAfter: undefined,
  });
  expect(shape(new IdempotencyKeyReused())).toEqual({
    name: 'IdempotencyKeyReused',
    code: 'idempotency-key-reused',
    status: 422,
    title: 'Idempotency-Key was used with a different request',
    message: 'this Idempotency-Key was first used with another method, path or body; use a new key for a new request',
    extra: {},
    retryAfter: undefined,
  });
});

it('domain errors: code, status, title, detail, extra members: 429 and 503 carry Retry-After (default 1 s) and 503 a specific code when given', () => {
  expect(shape(new Overloaded('queue full'))).toEqual({ name: 'Overloaded', code: 'overloaded', status: 429, title: 'Too many requests in flight', message: 'queue full', extra: {}, retryAfter: 1 });
  expect(new Overloaded('x', 3).retryAfter).toBe(3);
  expect(shape(new Unavailable('down'))).toEqual({ name: 'Unavailable', code: 'unavailable', status: 503, title: 'Service temporarily unavailable', message: 'down', extra: {}, retryAfter: 1 });
  expect(shape(new Unavailable('x', 2, 'lock-timeout'))).toMatchObject({ code: 'lock-timeout', retryAfter: 2, status: 503 });
});

it('domain errors: code, status, title, detail, extra members: hold-would-shorten, over-receipt, rate-limited and bad-request', () => {
  expect(shape(new HoldWouldShorten(60, null))).toMatchObject({
    code: 'hold-would-shorten',
    status: 409,
    message: 'body.holdSeconds: the hold never expires; extend cannot put an end on it (release it instead)',
    extra: { errors: [{ field: 'body.holdSeconds', reason: 'the hold never expires; extend cannot put an end on it (release it instead)' }], expiresAt: null },
  });
  expect(shape(new HoldWouldShorten(60, '2026-01-01T00:10:00.000Z'))).toMatchObject({
    message: 'body.holdSeconds: the hold already runs until 2026-01-01T00:10:00.000Z; 60 s from now is earlier, and extend never shortens a hold',
    extra: { expiresAt: '2026-01-01T00:10:00.000Z' },
  });
  expect(shape(new OverReceipt('5 more than expected', { expected: 2 }))).toMatchObject({ code: 'over-receipt', status: 409, message: '5 more than expected', extra: { expected: 2 } });
  expect(shape(new RateLimited('ATP_READ_RATE_PER_KEY', 100, 200, 2))).toEqual({
    name: 'RateLimited',
    code: 'rate-limited',
    status: 429,
    title: 'Rate limit exceeded',
    message: 'this key made more than 100 reads/s (burst 200), the limit ATP_READ_RATE_PER_KEY; retry after 2 s',
    extra: { limit: 'ATP_READ_RATE_PER_KEY', perSecond: 100, burst: 200 },
    retryAfter: 2,
  });
  expect(shape(new BadRequest('NUL in body.orderRef'))).toMatchObject({ code: 'bad-request', status: 400, message: 'NUL in body.orderRef', extra: {} });
});

it('domain errors: an answer, not a bug: no stack trace is captured, and errors made afterwards still get theirs', () => {
  const limit = Error.stackTraceLimit;
  const e = new InvalidState('x');
  expect(e.stack?.split('\n').length).toBe(1);
  expect(Error.stackTraceLimit).toBe(limit);
  expect(new Error('a bug').stack?.split('\n').length).toBeGreaterThan(1);
});

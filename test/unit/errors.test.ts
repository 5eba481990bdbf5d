/**
 * The domain errors are the problem+json contract (DESIGN.md "HTTP contract"): each class has a
 * stable `code` (the last segment of its problem `type`), an HTTP status, a title, a detail and the
 * extra members callers read. Expected values are written out literally here — the contract, not
 * a copy of the code.
 */
import { expect, it } from 'vitest';
import {
  ChannelLimit,
  Conflict,
  DomainError,
  ExceedsHeld,
  Forbidden,
  IdempotencyKeyRequired,
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidState,
  NotFound,
  Overloaded,
  PreconditionFailed,
  Unauthorized,
  Unavailable,
  ValidationFailed,
  WouldOvercommit,
  type ShortLine,
} from '../../src/domain/errors.js';

const shape = (e: DomainError) => ({ name: e.name, code: e.code, status: e.status, title: e.title, message: e.message, extra: e.extra, retryAfter: e.retryAfter });

it('domain errors: code, status, title, detail, extra members: the base class: detail defaults to the title, extra to {}, no Retry-After; name is the subclass name', () => {
  const e = new DomainError('some-code', 418, 'A title');
  expect(e).toBeInstanceOf(Error);
  expect(shape(e)).toEqual({ name: 'DomainError', code: 'some-code', status: 418, title: 'A title', message: 'A title', extra: {}, retryAfter: undefined });
  expect(new DomainError('c', 400, 't', 'the detail', { a: 1 }, 7)).toMatchObject({ message: 'the detail', extra: { a: 1 }, retryAfter: 7 });
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
  expect(new ValidationFailed([]).message).toBe('Request is not valid');
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
  expect(new InvalidState('x', { status: 'released' }).extra).toEqual({ status: 'released' });
  expect(shape(new ExceedsHeld('too much'))).toMatchObject({ code: 'exceeds-held', status: 409, title: 'Quantity exceeds what the reservation holds', message: 'too much', extra: {} });
  expect(new ExceedsHeld('x', { held: 2 }).extra).toEqual({ held: 2 });
  expect(shape(new WouldOvercommit('short'))).toMatchObject({ code: 'would-overcommit', status: 409, title: 'Change would leave reservations without stock', message: 'short', extra: {} });
  expect(new WouldOvercommit('x', { by: 3 }).extra).toEqual({ by: 3 });
  expect(shape(new PreconditionFailed('stale'))).toMatchObject({ code: 'precondition-failed', status: 412, title: 'Precondition failed', message: 'stale', extra: {} });
  expect(new PreconditionFailed('x', { currentVersion: 4 }).extra).toEqual({ currentVersion: 4 });
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
  expect(new Unavailable('x', 2, 'lock-timeout')).toMatchObject({ code: 'lock-timeout', retryAfter: 2, status: 503 });
});

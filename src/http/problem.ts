/**
 * The one place that turns errors into RFC 9457 application/problem+json. Domain errors keep
 * their status, `code` and extra members; HTTP errors from the framework (malformed JSON, wrong
 * media type, body too large) get their own codes; anything unknown is a 500 whose body says
 * nothing about internals (the log has the details).
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { mapDatabaseError } from '../db/errors.js';
import { DomainError, ValidationFailed } from '../domain/errors.js';

export const PROBLEM_BASE = 'https://atp.example.com/problems/';
const HTTP_CODES: Record<number, { code: string; title: string }> = {
  400: { code: 'bad-request', title: 'Bad request' },
  404: { code: 'not-found', title: 'Not found' },
  405: { code: 'method-not-allowed', title: 'Method not allowed' },
  413: { code: 'payload-too-large', title: 'Request body too large' },
  415: { code: 'unsupported-media-type', title: 'Send Content-Type: application/json' },
};

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  [k: string]: unknown;
}

/** The RFC 9457 members (and our `code`): extension members may never overwrite them. */
const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'code', 'detail', 'instance']);

export function problemBody(err: DomainError, instance?: string): ProblemBody {
  const extra = Object.fromEntries(Object.entries(err.extra).filter(([k]) => !STANDARD_MEMBERS.has(k)));
  return {
    type: PROBLEM_BASE + err.code,
    title: err.title,
    status: err.status,
    code: err.code,
    detail: err.message,
    ...(instance ? { instance } : {}),
    ...extra,
  };
}

/** The problem+json answer for `err`; `extraHeaders` for what the status itself needs (Allow on a 405). */
export function problemResponse(c: Context, err: DomainError, extraHeaders: Record<string, string> = {}): Response {
  const headers: Record<string, string> = { ...extraHeaders, 'content-type': 'application/problem+json' };
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  return new Response(JSON.stringify(problemBody(err, c.req.path)), { status: err.status, headers });
}

const malformedJson = () =>
  new DomainError('malformed-json', 400, 'Request body is not valid JSON', 'body: not valid JSON', { errors: [{ field: 'body', reason: 'not valid JSON' }] });

/** Map anything thrown to a DomainError; `undefined` for a bug (500). */
export function toDomainError(err: unknown): DomainError | undefined {
  if (err instanceof DomainError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 400 && /malformed json/i.test(err.message)) return malformedJson();
    const known = HTTP_CODES[err.status] ?? { code: 'http-error', title: 'Request failed' };
    return new DomainError(known.code, err.status, known.title, err.message || known.title);
  }
  // JSON.parse errors from a body read outside the validator (any other SyntaxError is a bug: a 500)
  if (err instanceof SyntaxError && /JSON/.test(err.message)) return malformedJson();
  return mapDatabaseError(err);
}

/** zod issues → `{field, reason}` naming each bad field (`body.lines.0.qty`, `query.sku` …). */
export function validationError(target: string, error: ZodError): ValidationFailed {
  const prefix = target === 'json' ? 'body' : target;
  return new ValidationFailed(
    error.issues.slice(0, 20).map((i) => ({
      field: [prefix, ...i.path.map(String)].join('.'),
      reason: i.message,
    })),
  );
}

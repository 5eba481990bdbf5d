/**
 * The one place that turns errors into RFC 9457 application/problem+json. A domain error brings
 * its code, detail and facts; the table in problem-types.ts gives the status and title of the code.
 * HTTP errors of the framework (malformed JSON, wrong media type, body too large) get their own
 * codes; anything unknown is a 500 whose body says nothing about internals (the log has the details).
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { mapDatabaseError } from '../db/errors.js';
import { DomainError, type Facts, ValidationFailed } from '../domain/errors.js';
import { PROBLEM_BASE, type ProblemCode, problemType } from './problem-types.js';
import type { Problem as ProblemDocument } from '../contract/problem.js';

export { PROBLEM_BASE } from './problem-types.js';

/** The framework's HTTP errors that have a code of their own. */
const HTTP_CODES: Record<number, ProblemCode> = {
  400: 'bad-request',
  404: 'not-found',
  405: 'method-not-allowed',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
};

/**
 * A problem the transport raises itself (no domain decision behind it). `status` is set only for
 * `http-error`, a framework error whose status has no row of its own.
 */
export class TransportProblem extends Error {
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly facts: Facts = {},
    readonly status?: number,
  ) {
    super(detail);
    this.name = 'TransportProblem';
  }

  readonly retryAfter: number | undefined = undefined;
}

export type Problem = DomainError | TransportProblem;

/**
 * A problem document as built: the standard members of contract/problem.ts `Problem`, and the
 * domain error's facts as its extension members (each one documented there; the test client
 * checks every answer against the closed schema).
 */
export type ProblemBody = Pick<ProblemDocument, 'type' | 'title' | 'status' | 'code' | 'detail' | 'instance'> & { [k: string]: unknown };

/** The RFC 9457 members (and our `code`): extension members may never overwrite them. */
const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'code', 'detail', 'instance']);

/** The HTTP status a problem is answered with. */
export function statusOf(err: Problem): number {
  return (err instanceof TransportProblem ? err.status : undefined) ?? problemType(err.code).status;
}

/** The problem+json document of `err` (pure; `instance` is the request path). */
export function problemBody(err: Problem, instance?: string): ProblemBody {
  const { title } = problemType(err.code);
  const facts = Object.fromEntries(Object.entries(err.facts).filter(([k]) => !STANDARD_MEMBERS.has(k)));
  return {
    type: PROBLEM_BASE + err.code,
    title,
    status: statusOf(err),
    code: err.code,
    detail: err.detail ?? title,
    ...(instance ? { instance } : {}),
    ...facts,
  };
}

/** The problem+json answer for `err`; `extraHeaders` for what the status itself needs (Allow on a 405). */
export function problemResponse(c: Context, err: Problem, extraHeaders: Record<string, string> = {}): Response {
  const headers: Record<string, string> = { ...extraHeaders, 'content-type': 'application/problem+json' };
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  return new Response(JSON.stringify(problemBody(err, c.req.path)), { status: statusOf(err), headers });
}

const malformedJson = () => new TransportProblem('malformed-json', 'body: not valid JSON', { errors: [{ field: 'body', reason: 'not valid JSON' }] });

/** Map anything thrown to a problem; `undefined` for a bug (500). */
export function toDomainError(err: unknown): Problem | undefined {
  if (err instanceof DomainError) return err;
  if (err instanceof HTTPException) {
    if (err.status === 400 && /malformed json/i.test(err.message)) return malformedJson();
    const code = HTTP_CODES[err.status];
    if (code) return new TransportProblem(code, err.message || problemType(code).title);
    return new TransportProblem('http-error', err.message || problemType('http-error').title, {}, err.status);
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

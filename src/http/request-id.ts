/**
 * X-Request-Id on every response the app makes, errors included. The caller's id is echoed when
 * it is short and plain (letters, digits, `_ - =`, at most 128 characters), otherwise a UUID is
 * generated. This middleware must be the first one, so that every later layer is inside it.
 *
 * Lean on purpose (issue 14, "a lean front"): on a socket (@hono/node-server passes the
 * `ServerResponse` as `env.outgoing`) the header is set on the Node response before the handlers
 * run, so whatever Response the app answers with — a route's `c.json`, a problem from the error
 * mapper, the 404/405 handlers, the body limit — carries it when Node writes the head, and no
 * layer touches the Response's `headers` (reading them turns @hono/node-server's lightweight
 * response into a web `Headers` object; `c.header` before the handler does the same to every
 * `c.json`). In process (`app.request`, no socket) it is added to the final Response instead.
 */
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.js';
import { incoming, outgoing } from './headers.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const PLAIN_ID = /^[\w\-=]{1,128}$/;

export function requestIds(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const sent = c.req.header(REQUEST_ID_HEADER);
    const id = sent !== undefined && PLAIN_ID.test(sent) ? sent : randomUUID();
    c.set('requestId', id);
    const out = outgoing(c);
    if (out) {
      out.setHeader(REQUEST_ID_HEADER, id);
      allHeadersFromNode(c);
      return next();
    }
    await next();
    c.header(REQUEST_ID_HEADER, id);
  };
}

/**
 * `c.req.header()` (all headers, which hono's `header` validator asks for on every route that
 * declares request headers, e.g. Idempotency-Key) from the headers Node's parser already made,
 * instead of @hono/node-server turning the raw headers into a web `Headers` object (≈ 6 % of the
 * service's main thread on POST /v1/reservations; bench/RESULTS.md): the names Node saw, each
 * value from hono's own single-name lookup, so `c.req.header()` and `c.req.header(name)` agree.
 */
function allHeadersFromNode(c: Context): void {
  const req = incoming(c);
  if (!req) return;
  const one = c.req.header.bind(c.req);
  const all = (): Record<string, string> => {
    const record: Record<string, string> = Object.create(null);
    for (const name of Object.keys(req.headers)) {
      const value = one(name);
      if (value !== undefined) record[name] = value;
    }
    return record;
  };
  c.req.header = ((name?: string) => (name === undefined ? all() : one(name))) as typeof c.req.header;
}

/**
 * X-Request-Id on every response the app makes, errors included. The caller's id is echoed when
 * it is short and plain (letters, digits, `_ - =`, at most 128 characters), otherwise a UUID is
 * generated. It is set before the handlers run (so `c.json` answers carry it at no extra cost)
 * and checked after them: a Response built outside the context — a problem from the error
 * mapper, the 404/405 handlers, the body limit, a refusal of authentication — gets it too.
 * This middleware must be the first one, so that every later layer is inside it.
 */
import type { MiddlewareHandler } from 'hono';
import { requestId } from 'hono/request-id';
import type { AppEnv } from './context.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

export function requestIds(): MiddlewareHandler<AppEnv> {
  const assign = requestId({ headerName: REQUEST_ID_HEADER, limitLength: 128 });
  return (c, next) =>
    assign(c, async () => {
      await next();
      if (!c.res.headers.has(REQUEST_ID_HEADER)) c.header(REQUEST_ID_HEADER, c.get('requestId'));
    });
}

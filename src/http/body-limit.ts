/**
 * Request body limit that keeps @hono/node-server's fast body path.
 *
 * hono's `bodyLimit` starts with `if (!c.req.raw.body)`: on @hono/node-server that one property
 * read turns the lightweight request into a full web `Request` with a `ReadableStream` body, and
 * the JSON is then read through the stream instead of straight from the socket — ≈ 12 % of the
 * service's main thread on the flash-sale sold-out path (bench/RESULTS.md). So:
 * - GET, HEAD and OPTIONS: no route reads their body; nothing to limit;
 * - a Content-Length without Transfer-Encoding: the HTTP parser delivers exactly that many bytes,
 *   so the header decides (the same rule hono applies), and the raw request is never touched;
 * - anything else (chunked bodies; in-process `app.request` calls, whose `Request` carries no
 *   Content-Length): hono's `bodyLimit`, which counts the bytes as they stream.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';

export function bodyLimit(opts: { maxSize: number; onError: (c: Context) => Response | Promise<Response> }): MiddlewareHandler {
  const streaming = honoBodyLimit(opts);
  return async (c, next) => {
    const m = c.req.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next();
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      const n = Number(length);
      return Number.isSafeInteger(n) && n >= 0 && n <= opts.maxSize ? next() : opts.onError(c);
    }
    return streaming(c, next);
  };
}

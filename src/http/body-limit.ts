/**
 * Request body limit that keeps @hono/node-server's fast body path.
 *
 * hono's `bodyLimit` starts with `if (!c.req.raw.body)`: on @hono/node-server that one property
 * read turns the lightweight request into a full web `Request` with a `ReadableStream` body, and
 * the JSON is then read through the stream instead of straight from the socket — ≈ 12 % of the
 * service's main thread on the flash-sale sold-out path (bench/RESULTS.md). So:
 * - GET, HEAD and OPTIONS: no route reads their body; nothing to limit;
 * - a request from the socket with Content-Length and no Transfer-Encoding: Node's HTTP parser
 *   delivers exactly that many bytes (and refuses duplicate or conflicting lengths), so the
 *   header decides (the same rule hono applies) and the raw request is never touched;
 * - a chunked request from the socket: hono's `bodyLimit`, which counts the bytes as they stream;
 * - an in-process `app.request` call (whose headers nothing checks): the body is read and measured
 *   (hono keeps it for the route).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { incoming } from './headers.js';

export function bodyLimit(opts: { maxSize: number; onError: (c: Context) => Response | Promise<Response> }): MiddlewareHandler {
  const streaming = honoBodyLimit(opts);
  return async (c, next) => {
    const m = c.req.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS') return next();
    // only a request parsed by Node's HTTP server (@hono/node-server passes it as env.incoming) is
    // held to its Content-Length by the parser; an in-process Request may claim any length
    const fromSocket = incoming(c) !== undefined;
    if (!fromSocket) {
      // in process (tests, embedding code): measure the body itself; hono caches it for the route
      return (await c.req.arrayBuffer()).byteLength <= opts.maxSize ? next() : opts.onError(c);
    }
    const length = c.req.header('content-length');
    if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
      const n = Number(length);
      return Number.isSafeInteger(n) && n >= 0 && n <= opts.maxSize ? next() : opts.onError(c);
    }
    return streaming(c, next);
  };
}

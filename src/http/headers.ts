/**
 * Response headers without a web `Headers` object (issue 14, "a lean front"). On a socket
 * (@hono/node-server passes Node's `ServerResponse` as `env.outgoing`) a header is set on the Node
 * response and goes out with whatever Response the app answers with; `c.header` would instead
 * make every later `c.json` build and copy a `Headers` object. In process (`app.request`, no
 * socket) it falls back to `c.header`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, TypedResponse } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { JsonText } from '../contract/json-text.js';

/** The Node response of a request served from a socket; undefined in process. */
export function outgoing(c: Context): ServerResponse | undefined {
  return (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
}

/** The Node request (parsed by Node's HTTP server) of a request served from a socket; undefined in process. */
export function incoming(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * Set a response header of this request: on the Node response when served from a socket (no web
 * `Headers` object is made), else on the context. Only for headers of a SUCCESSFUL answer, set
 * right before the handler returns it: a header set here also goes out on an error answer.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  const out = outgoing(c);
  // a request answered by its deadline already has its head written: a late header is dropped
  if (out) {
    if (!out.headersSent) out.setHeader(name, value);
  } else c.header(name, value);
}

/**
 * Answer with JSON that is already text (a stored answer): its bytes as they are, typed as the
 * route's JSON response so the route still declares what it sends. The brand `JsonText<T>` is the
 * guarantee that the bytes are a `T` (contract/json-text.ts); the contract-checking test client
 * checks every answer against /openapi.json.
 */
export function sendJsonText<T, S extends ContentfulStatusCode>(c: Context, text: JsonText<T>, status: S): TypedResponse<T, S, 'json'> {
  const res = c.body(text, status, { 'content-type': 'application/json' });
  // the one bridge from text to the typed response: the brand says which T the text is
  return res as unknown as TypedResponse<T, S, 'json'>;
}

/**
 * One HTTP attempt with a hard deadline. Never throws for the network: a connection failure or a
 * deadline is an outcome, so load generators can count them. `deadline` outcomes are hangs (the
 * service did not answer in time) and every test asserts there are none. Every answer is checked
 * against the service's own /openapi.json with the test client's contract (test/helpers/
 * contract.ts, documented objects closed): an answer the document does not describe throws a
 * ContractViolation, which fails the test.
 */
import { Agent, fetch } from 'undici';
import { type Contract, contractOf } from '../../helpers/contract.js';

/**
 * One connection per request (pipelining 0 disables keep-alive): a reused keep-alive socket can
 * race the server closing it (after a 413 with an unread body, or at the keep-alive timeout) and
 * fail with UND_ERR_SOCKET before the request reached the app — a client artefact that would be
 * miscounted as the service not answering. With fresh connections, a connection error is real.
 */
const agent = new Agent({ pipelining: 0, connections: 512 });

export type Outcome =
  | { kind: 'response'; status: number; headers: { get(name: string): string | null }; text: string; json: unknown }
  | { kind: 'connection-error'; message: string }
  | { kind: 'deadline' };

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  deadlineMs: number;
}

export async function call(url: string, opts: CallOptions): Promise<Outcome> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.deadlineMs);
  try {
    const res = await fetch(url, {
      method: opts.method ?? 'GET',
      // identity unless the request says otherwise: undici 7's fetch trips its own assertion
      // (`assert(!this.paused)`, an uncaught exception) when a gzip body meets a connection that
      // closes after the response, as every connection of this agent does (GET /docs/api-reference.js)
      headers: { 'accept-encoding': 'identity', ...opts.headers },
      body: opts.body as string | undefined,
      signal: ctl.signal,
      dispatcher: agent,
    });
    const text = await res.text();
    (await contractAt(url)).assert({ method: opts.method ?? 'GET', path: new URL(url).pathname + new URL(url).search, status: res.status, contentType: res.headers.get('content-type'), text });
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { kind: 'response', status: res.status, headers: res.headers, text, json };
  } catch (err) {
    if ((err as Error).name === 'ContractViolation') throw err;
    if (ctl.signal.aborted) return { kind: 'deadline' };
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { kind: 'connection-error', message: [e.cause?.code, e.cause?.message ?? e.message].filter(Boolean).join(' ') };
  } finally {
    clearTimeout(timer);
  }
}

/** Is this a well-formed RFC 9457 problem document with the status it was sent with? */
export function isProblem(o: Outcome): boolean {
  if (o.kind !== 'response') return false;
  const ct = o.headers.get('content-type') ?? '';
  const b = o.json as { type?: unknown; title?: unknown; status?: unknown; code?: unknown } | undefined;
  return ct.startsWith('application/problem+json') && !!b && typeof b.type === 'string' && typeof b.title === 'string' && b.status === o.status && typeof b.code === 'string';
}

/** One Fetchable per origin (its contract is read once), with its own deadline. */
const origins = new Map<string, { request: (path: string, init?: RequestInit) => Promise<Response> }>();
/** the last document read: the same code serves the same document, so it stands in while an instance is down */
let lastContract: Contract | undefined;

async function contractAt(url: string): Promise<Contract> {
  const origin = new URL(url).origin;
  let f = origins.get(origin);
  if (!f) {
    f = { request: (path, init) => globalThis.fetch(new URL(path, origin), { ...init, signal: AbortSignal.timeout(10_000) }) };
    origins.set(origin, f);
  }
  try {
    lastContract = await contractOf(f);
    return lastContract;
  } catch (err) {
    if (lastContract) return lastContract;
    throw err;
  }
}

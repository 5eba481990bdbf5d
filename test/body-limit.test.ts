/**
 * The body limit over a real HTTP server (@hono/node-server) and in process: Content-Length
 * decides when present, chunked bodies are counted as they stream, bodiless methods pass, and a
 * body within the limit reaches the handler intact — whichever path was taken.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bodyLimit } from '../src/http/body-limit.js';

const LIMIT = 1000;
const app = new Hono();
app.use('*', bodyLimit({ maxSize: LIMIT, onError: (c) => c.json({ code: 'payload-too-large' }, 413) }));
app.post('/echo', async (c) => c.json({ length: (await c.req.json<{ s: string }>()).s.length }));
app.get('/echo', (c) => c.json({ ok: true }));
let server: ReturnType<typeof serve>;
let port: number;

beforeAll(async () => {
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** POST over a socket; chunked: the body goes in several chunks without a Content-Length. */
function post(body: string, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = Buffer.byteLength(body);
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/echo', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    // the server may answer 413 and close while the rest is still being written: the answer wins
    // if it arrives; otherwise the error is the result (a failed assertion, never a hang)
    req.on('error', (e: NodeJS.ErrnoException) => setTimeout(() => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve({ status: -1, body: e.code }) : reject(e)), 500));
    if (chunked) for (let i = 0; i < body.length; i += 300) req.write(body.slice(i, i + 300));
    else req.write(body);
    req.end();
  });
}

const json = (n: number) => JSON.stringify({ s: 'x'.repeat(n) });

it('Content-Length within the limit: the body reaches the handler; above it: 413', async () => {
  expect(await post(json(900), false)).toEqual({ status: 200, body: JSON.stringify({ length: 900 }) });
  expect((await post(json(LIMIT), false)).status).toBe(413);
});

it('chunked bodies are counted as they stream: within the limit pass intact, above it 413', async () => {
  expect(await post(json(900), true)).toEqual({ status: 200, body: JSON.stringify({ length: 900 }) });
  expect((await post(json(5000), true)).status).toBe(413);
});

it('in process the body itself is measured, whatever Content-Length claims; GET passes', async () => {
  const call = (n: number) => app.request('/echo', { method: 'POST', body: json(n), headers: { 'content-type': 'application/json' } });
  expect(await (await call(900)).json()).toEqual({ length: 900 });
  expect((await call(LIMIT)).status).toBe(413);
  expect((await app.request('/echo')).status).toBe(200);
  // an in-process caller cannot talk its way past the limit with a short Content-Length
  const lying = await app.request('/echo', { method: 'POST', body: json(5000), headers: { 'content-type': 'application/json', 'content-length': '10' } });
  expect(lying.status).toBe(413);
});

it('DELETE and PATCH bodies are limited like POST', async () => {
  for (const method of ['DELETE', 'PATCH']) {
    const r = await app.request('/echo', { method, body: json(5000), headers: { 'content-type': 'application/json' } });
    expect(r.status, method).toBe(413);
  }
});

/**
 * Baseline (a), the HTTP ceiling: a trivial Hono JSON route in a process configured like the
 * service (same Node, @hono/node-server, request id, body parse, JSON answer, pino at warn), so the
 * flash-sale bench can say what fraction of the raw HTTP ceiling the service reaches. The mixed
 * bench's reads are compared with its GET route: a query-string parse and a small JSON answer.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { createLogger } from '../src/logger.js';

const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
const app = new Hono();
app.use('*', requestId({ headerName: 'X-Request-Id', limitLength: 128 }));
app.get('/healthz', (c) => c.json({ ok: true }));
let n = 0;
app.post('/v1/reservations', async (c) => {
  const body = (await c.req.json()) as { orderRef?: string };
  if (logger.isLevelEnabled('debug')) logger.debug({ orderRef: body.orderRef }, 'request');
  return c.json({ id: String(++n), orderRef: body.orderRef ?? null, status: 'held' }, 201);
});
app.get('/v1/atp', (c) => c.json({ skus: c.req.queries('sku') ?? [], channel: c.req.query('channel') ?? null }));
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8081), hostname: process.env.HOST ?? '127.0.0.1' });
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

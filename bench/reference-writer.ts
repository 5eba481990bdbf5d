/**
 * The upper reference for a reservation (issue 14): the least a batched writer can do on the same
 * HTTP stack as the service (Node, @hono/node-server, request id, JSON body parsed and checked,
 * one JSON answer), with NO rules, no idempotency lookup, no telemetry. Per reservation it writes
 * 3 rows' worth: its reservation row (with the answer as a JSON document), its share of one
 * guarded position update, one outbox row that references the reservation.
 *
 * Natural batching: requests for a SKU that arrive while its statement is in flight go together
 * in the next one. Each batch is ONE autocommit statement (no BEGIN/COMMIT round trips):
 * lock the position row, accept the prefix of the batch that fits what is available (arrival
 * order), update the position, insert the accepted reservations and their outbox rows.
 * `REF_IN_FLIGHT` (default 2) statements of one SKU may be in flight: the next waits on the
 * row lock in Postgres instead of behind a client round trip.
 *
 * Not part of the service: bench/flash-sale.ts starts it as a child process against the bench
 * database (tables `ref_*`) and checks its invariant (reserved == Σ reservations ≤ on hand).
 *
 *   DATABASE_URL=… PORT=8082 node --import tsx bench/reference-writer.ts
 */
import { randomUUID } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', {
  max: Number(process.env.REF_POOL_MAX ?? 10),
  onnotice: () => {},
});
const IN_FLIGHT = Math.max(1, Number(process.env.REF_IN_FLIGHT ?? 2));
const MAX_BATCH = Number(process.env.REF_BATCH_MAX ?? 500);

await sql`create table if not exists ref_positions (sku text primary key, on_hand int not null, reserved int not null default 0, check (reserved <= on_hand))`;
await sql`create table if not exists ref_reservations (id uuid primary key, order_ref text not null, channel text not null, sku text not null, qty int not null, answer jsonb not null, created_at timestamptz not null default now())`;
await sql`create table if not exists ref_outbox (seq bigserial primary key, type text not null, ref uuid not null)`;

interface Pending {
  id: string;
  orderRef: string;
  channel: string;
  qty: number;
  answer: string;
  resolve: (accepted: boolean) => void;
  reject: (err: unknown) => void;
}

interface Lane {
  queue: Pending[];
  running: number;
}

const lanes = new Map<string, Lane>();

function submit(sku: string, p: Omit<Pending, 'resolve' | 'reject'>): Promise<boolean> {
  let lane = lanes.get(sku);
  if (!lane) lanes.set(sku, (lane = { queue: [], running: 0 }));
  const l = lane;
  const done = new Promise<boolean>((resolve, reject) => l.queue.push({ ...p, resolve, reject }));
  pump(sku, l);
  return done;
}

function pump(sku: string, lane: Lane) {
  while (lane.running < IN_FLIGHT && lane.queue.length > 0) {
    const batch = lane.queue.splice(0, MAX_BATCH);
    lane.running++;
    void write(sku, batch).finally(() => {
      lane.running--;
      if (lane.queue.length > 0) pump(sku, lane);
      else if (lane.running === 0) lanes.delete(sku);
    });
  }
}

/** One statement: lock the position, accept the fitting prefix, update, insert reservations and outbox rows. */
async function write(sku: string, batch: Pending[]) {
  try {
    const rows = await sql<{ id: string }[]>`
      with d as (
        select u.id, u.order_ref, u.channel, u.qty, u.answer, u.ord,
               sum(u.qty) over (order by u.ord) as cum
        from unnest(${sql.array(batch.map((b) => b.id))}::uuid[], ${sql.array(batch.map((b) => b.orderRef))}::text[],
                    ${sql.array(batch.map((b) => b.channel))}::text[], ${sql.array(batch.map((b) => b.qty))}::int[],
                    ${sql.array(batch.map((b) => b.answer))}::jsonb[]) with ordinality as u(id, order_ref, channel, qty, answer, ord)),
      pos as (select on_hand - reserved as avail from ref_positions where sku = ${sku} for update),
      acc as (select d.* from d, pos where d.cum <= pos.avail),
      upd as (update ref_positions set reserved = reserved + (select coalesce(sum(qty), 0) from acc)
              where sku = ${sku} and exists (select 1 from acc) returning 1),
      ins as (insert into ref_reservations (id, order_ref, channel, sku, qty, answer)
              select id, order_ref, channel, ${sku}, qty, answer from acc returning id),
      out as (insert into ref_outbox (type, ref) select 'reservation.created', id from ins returning 1)
      select id::text as id from ins`;
    const accepted = new Set(rows.map((r) => r.id));
    for (const b of batch) b.resolve(accepted.has(b.id));
  } catch (err) {
    for (const b of batch) b.reject(err);
  }
}

const app = new Hono();
app.use('*', requestId({ headerName: 'X-Request-Id', limitLength: 128 }));
app.get('/healthz', (c) => c.json({ ok: true }));
app.put('/ref/positions/:sku', async (c) => {
  const { onHand } = (await c.req.json()) as { onHand: number };
  await sql`insert into ref_positions (sku, on_hand) values (${c.req.param('sku')}, ${onHand})
            on conflict (sku) do update set on_hand = excluded.on_hand, reserved = 0`;
  return c.json({ ok: true });
});
app.post('/v1/reservations', async (c) => {
  const body = (await c.req.json()) as { orderRef?: unknown; channel?: unknown; lines?: { sku?: unknown; qty?: unknown }[] };
  const line = Array.isArray(body.lines) ? body.lines[0] : undefined;
  if (typeof body.orderRef !== 'string' || typeof body.channel !== 'string' || !line || typeof line.sku !== 'string' || !Number.isInteger(line.qty) || (line.qty as number) < 1) {
    return c.json({ type: 'about:blank', title: 'validation failed', status: 400 }, 400);
  }
  const id = randomUUID();
  const answer = JSON.stringify({ id, orderRef: body.orderRef, channel: body.channel, status: 'held', lines: [{ sku: line.sku, qty: line.qty }] });
  const ok = await submit(line.sku, { id, orderRef: body.orderRef, channel: body.channel, qty: line.qty as number, answer });
  if (!ok) return c.json({ type: 'about:blank', title: 'insufficient stock', status: 409 }, 409);
  return c.body(answer, 201, { 'content-type': 'application/json' });
});

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 8082), hostname: process.env.HOST ?? '127.0.0.1' });
const stop = () => server.close(() => void sql.end().then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

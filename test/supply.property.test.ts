/**
 * Properties of supply, backorders and promises (fast-check), on a real Postgres through the HTTP
 * app, plus the pure re-planner:
 * - the promise never lies: a backorder-allowed reservation made right after a promise (same
 *   stock) succeeds exactly when the promise had a date, and gets no allocation later than the
 *   date promised for its line;
 * - under any sequence of reservations, releases, commits, receipts (and retried receipts),
 *   slips, quantity cuts, cancels and quality holds: supply is never allocated twice
 *   (allocated == Σ backorders on it, allocated + received ≤ qty), received stock never counts
 *   twice (received == Σ receipt ledger rows, onHand == the model's), in-transit never counts as
 *   on hand (onHand moves only by receipts and commits) and every stock invariant holds;
 * - replan never over-allocates a position or a supply and places + shorts exactly what it is given.
 */
import fc from 'fast-check';
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
// the service (and with it @hono/zod-openapi) first: it extends zod before any schema is built
import { type PositionState, type SupplyState } from '../src/domain/allocate.js';
import { replan } from '../src/domain/replan.js';
import { DEFAULT_RULES } from '../src/contract/rules.js';
import { serviceFixture } from './helpers/service.js';
import { checkInvariants, client, day } from './helpers/supply.js';

const t = serviceFixture({ ATP_DB_POOL_MAX: '10' });
let api: ReturnType<typeof client>;
let run = 0;
const LOCS = ['L1', 'L2', 'L3'];

beforeAll(async () => {
  api = client(t.svc);
  for (const [i, l] of LOCS.entries()) await api.location(l, i + 1);
  await api.rules({ channels: { web: { tier: 1 }, store: { tier: 2, locations: ['L1', 'L2'] }, mkt: { tier: 3 } }, protect: { '1': 2 } });
});

const position = fc.record({ loc: fc.constantFrom(...LOCS), onHand: fc.integer({ min: 0, max: 12 }), hold: fc.integer({ min: 0, max: 3 }) });
const supplyArb = fc.record({ loc: fc.constantFrom(...LOCS), qty: fc.integer({ min: 1, max: 15 }), day: fc.integer({ min: 1, max: 9 }) });
const channel = fc.constantFrom('web', 'store', 'mkt');
const line = fc.record({ sku: fc.constantFrom(0, 1), qty: fc.integer({ min: 1, max: 25 }), pin: fc.option(fc.constantFrom(...LOCS), { nil: undefined, freq: 5 }) });

describe('promise never lies', () => {
  it('reserving with allowBackorder right after a promise gets allocations no later than the promised dates', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(position, { maxLength: 4 }),
        fc.array(fc.record({ sku: fc.constantFrom(0, 1), s: supplyArb }), { maxLength: 5 }),
        fc.array(fc.record({ ch: channel, l: line }), { maxLength: 3 }),
        channel,
        fc.array(line, { minLength: 1, maxLength: 3 }),
        async (positions, supplies, earlier, ch, lines) => {
          const tag = `P${++run}`;
          const sku = (i: number) => `${tag}-${i}`;
          for (const i of [0, 1]) for (const p of positions) await api.put(sku(i), p.loc, { onHand: p.onHand + p.hold, qualityHold: p.hold });
          for (const { sku: i, s } of supplies) expect((await api.supply({ sku: sku(i), location: s.loc, qty: s.qty, expectedAt: day(s.day) })).status).toBe(201);
          for (const e of earlier) await api.reserve({ orderRef: 'e', channel: e.ch, lines: [{ sku: sku(e.l.sku), qty: e.l.qty }], allowBackorder: true });
          const req = lines.map((l) => ({ sku: sku(l.sku), qty: l.qty, ...(l.pin ? { location: l.pin } : {}) }));
          const p = await api.promise({ channel: ch, lines: req });
          expect(p.status).toBe(200);
          const r = await api.reserve({ orderRef: tag, channel: ch, lines: req, allowBackorder: true });
          if (p.body.promisedAt === null) {
            expect(r.status).toBe(409);
            return;
          }
          expect(r.status).toBe(201);
          for (const [i, l] of r.body.lines.entries()) {
            const promised = p.body.lines[i].promisedAt as string;
            for (const a of l.allocations) {
              if (a.promisedAt) expect(new Date(a.promisedAt).getTime()).toBeLessThanOrEqual(new Date(promised).getTime());
              else expect(p.body.lines[i].source === 'inbound' ? 'no on-hand expected' : 'ok').toBe('ok');
            }
          }
          await checkInvariants(t.db.url, sku(0));
          await checkInvariants(t.db.url, sku(1));
          await api.consistent();
        },
      ),
      { numRuns: 25 },
    );
  });
});

type Op =
  | { op: 'supply'; s: { loc: string; qty: number; day: number } }
  | { op: 'reserve'; ch: string; qty: number; backorder: boolean }
  | { op: 'release'; i: number }
  | { op: 'commit'; i: number }
  | { op: 'receive'; i: number; qty: number; retry: boolean }
  | { op: 'slip'; i: number; day: number }
  | { op: 'cut'; i: number; qty: number }
  | { op: 'cancel'; i: number }
  | { op: 'hold'; loc: string; hold: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('supply' as const), s: supplyArb }),
  fc.record({ op: fc.constant('reserve' as const), ch: channel, qty: fc.integer({ min: 1, max: 12 }), backorder: fc.boolean() }),
  fc.record({ op: fc.constant('reserve' as const), ch: channel, qty: fc.integer({ min: 1, max: 12 }), backorder: fc.constant(true) }),
  fc.record({ op: fc.constant('release' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('commit' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('receive' as const), i: fc.nat(), qty: fc.integer({ min: 1, max: 10 }), retry: fc.boolean() }),
  fc.record({ op: fc.constant('slip' as const), i: fc.nat(), day: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant('cut' as const), i: fc.nat(), qty: fc.integer({ min: 1, max: 15 }) }),
  fc.record({ op: fc.constant('cancel' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('hold' as const), loc: fc.constantFrom(...LOCS), hold: fc.integer({ min: 0, max: 3 }) }),
);

describe('supply is never allocated twice; received never counts twice; in-transit never on hand', () => {
  it('holds under random sequences of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(position, { maxLength: 3 }), fc.array(opArb, { minLength: 1, maxLength: 14 }), async (positions, ops) => {
        const sku = `Q${++run}`;
        const onHand = new Map<string, number>(); // the model: what is physically there
        const holdAt = new Map<string, number>();
        for (const p of positions) {
          await api.put(sku, p.loc, { onHand: p.onHand + p.hold, qualityHold: p.hold });
          onHand.set(p.loc, p.onHand + p.hold);
          holdAt.set(p.loc, p.hold);
        }
        const supplies: { id: string; loc: string }[] = [];
        const reservations: string[] = [];
        const pick = <T>(xs: T[], i: number) => (xs.length ? xs[i % xs.length] : undefined);
        let k = 0;
        for (const o of ops) {
          if (o.op === 'supply') {
            const r = await api.supply({ sku, location: o.s.loc, qty: o.s.qty, expectedAt: day(o.s.day) });
            supplies.push({ id: r.body.id, loc: o.s.loc });
            // in transit: ATP now does not move
          } else if (o.op === 'reserve') {
            const r = await api.reserve({ orderRef: 'x', channel: o.ch, lines: [{ sku, qty: o.qty }], allowBackorder: o.backorder });
            expect([201, 409]).toContain(r.status);
            if (r.status === 201) reservations.push(r.body.id);
          } else if (o.op === 'release' || o.op === 'commit') {
            const id = pick(reservations, o.i);
            if (!id) continue;
            const before = (await api.get(id)).body;
            const r = await api.call('POST', `/v1/reservations/${id}/${o.op}`, {});
            expect([200, 409]).toContain(r.status);
            if (o.op === 'commit' && r.status === 200) {
              for (const l of before.lines) for (const a of l.allocations) if (!a.supplyId && a.qty > 0) onHand.set(a.location, (onHand.get(a.location) ?? 0) - a.qty);
            }
          } else if (o.op === 'receive') {
            const s = pick(supplies, o.i);
            if (!s) continue;
            const key = `rcv-${sku}-${++k}`;
            const r = await api.receive(s.id, { qty: o.qty }, key);
            expect([200, 409]).toContain(r.status);
            if (r.status === 200) onHand.set(s.loc, (onHand.get(s.loc) ?? 0) + o.qty);
            if (o.retry) {
              const again = await api.receive(s.id, { qty: o.qty }, key);
              expect(again.status).toBe(r.status === 200 ? 200 : again.status);
            }
          } else if (o.op === 'slip') {
            const s = pick(supplies, o.i);
            if (s) expect([200, 409]).toContain((await api.patch(s.id, { expectedAt: day(o.day) })).status);
          } else if (o.op === 'cut') {
            const s = pick(supplies, o.i);
            if (s) expect([200, 409]).toContain((await api.patch(s.id, { qty: o.qty })).status);
          } else if (o.op === 'cancel') {
            const s = pick(supplies, o.i);
            if (s) expect([200, 409]).toContain((await api.cancel(s.id)).status);
          } else if (o.op === 'hold') {
            const oh = onHand.get(o.loc);
            if (oh === undefined) continue;
            const r = await api.put(sku, o.loc, { onHand: oh, qualityHold: o.hold });
            expect([200, 409]).toContain(r.status);
            if (r.status === 200) holdAt.set(o.loc, o.hold);
          }
          await checkInvariants(t.db.url, sku);
        }
        const atp = (await api.atp(sku)).body.skus[0];
        for (const l of atp.locations) expect(l.onHand, `onHand at ${l.location}`).toBe(onHand.get(l.location) ?? 0);
        const inbound = atp.inbound.reduce((s: number, i: { freeQty: number }) => s + i.freeQty, 0);
        expect(atp.byDate.at(-1)?.available ?? atp.available).toBe(atp.available + inbound);
        await api.consistent();
      }),
      { numRuns: 15 },
    );
  });
});

describe('replan (pure)', () => {
  it('never over-allocates and accounts for every displaced unit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ onHand: fc.integer({ min: 0, max: 20 }), reserved: fc.integer({ min: 0, max: 20 }) }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.record({ free: fc.integer({ min: 0, max: 10 }), day: fc.integer({ min: 1, max: 9 }), loc: fc.integer({ min: 0, max: 2 }) }), { maxLength: 4 }),
        fc.array(fc.record({ qty: fc.integer({ min: 1, max: 15 }), ch: fc.constantFrom('web', 'mkt') }), { maxLength: 6 }),
        (pos, sup, displaced) => {
          const positions: PositionState[] = pos.map((p, i) => ({ sku: 'A', location: `L${i}`, rank: i, onHand: p.onHand, reserved: Math.min(p.reserved, p.onHand), qualityHold: 0, safetyStock: 0 }));
          const supplies: SupplyState[] = sup.map((s, i) => ({ id: `s${i}`, sku: 'A', location: `L${s.loc}`, rank: s.loc, free: s.free, expectedAt: new Date(day(s.day)) }));
          const r = replan({ positions, supplies }, DEFAULT_RULES, displaced.map((d, i) => ({ ref: `${i}`, channel: d.ch, sku: 'A', qty: d.qty })));
          for (const [i, res] of r.results.entries()) expect(res.allocations.reduce((s, a) => s + a.qty, 0) + res.shortQty).toBe(displaced[i]!.qty);
          // every placed unit is accounted for exactly: at its position (reserved grows by it, the
          // unclamped availability falls by it) or against its supply (free falls by it)
          const placed = (where: (a: { location: string; supplyId?: string | undefined }) => boolean) =>
            r.results.flatMap((x) => x.allocations.filter(where)).reduce((s, a) => s + a.qty, 0);
          const raw = (p: PositionState) => p.onHand - p.reserved - p.qualityHold - p.safetyStock;
          for (const [i, p] of r.positions.entries()) {
            const here = placed((a) => !a.supplyId && a.location === p.location);
            expect(p.location).toBe(positions[i]!.location);
            expect(p.onHand).toBe(positions[i]!.onHand);
            expect(p.reserved).toBe(positions[i]!.reserved + here);
            expect(raw(p)).toBe(raw(positions[i]!) - here);
            expect(raw(p)).toBeGreaterThanOrEqual(0); // no oversell, unclamped
          }
          for (const [i, x] of r.supplies.entries()) {
            expect(x.id).toBe(supplies[i]!.id);
            expect(x.free).toBe(supplies[i]!.free - placed((a) => a.supplyId === x.id));
            expect(x.free).toBeGreaterThanOrEqual(0);
          }
          const freeBefore = supplies.reduce((s, x) => s + x.free, 0) + positions.reduce((s, p) => s + raw(p), 0);
          const freeLeft = r.supplies.reduce((s, x) => s + x.free, 0) + r.positions.reduce((s, p) => s + raw(p), 0);
          expect(freeLeft).toBe(freeBefore - placed(() => true));
          // short only when nothing was left to take
          if (r.results.some((x) => x.shortQty > 0)) expect(freeLeft).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

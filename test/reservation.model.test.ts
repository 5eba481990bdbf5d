/**
 * Model-based property test (fast-check): random sequences of set-stock / reserve / release /
 * commit / extend / expire, run against the real service (HTTP app on Postgres) and a simple
 * in-memory model. After every step the answer's status must match the model's prediction and
 * the database must match the model: onHand per position, reserved == what the model's held
 * reservations hold there, per-SKU totals, ledger balanced, no oversell (DESIGN invariants 1–4, 6).
 *
 * The model decides *whether* something may happen and *how much* moves; which location the
 * service picks is its own choice, which the model reads from the answer and then holds it to.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture({ ATP_DB_POOL_MAX: '5' });

const SKUS = 3;
const LOCS = ['DC1', 'DC2'];

type Cmd =
  | { kind: 'set'; sku: number; loc: number; onHand: number; hold: number; safety: number }
  | { kind: 'reserve'; lines: { sku: number; qty: number }[] }
  | { kind: 'release' | 'commit'; res: number; partial: { sku: number; qty: number } | null }
  | { kind: 'extend' | 'expire'; res: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), sku: fc.nat(SKUS - 1), loc: fc.nat(LOCS.length - 1), onHand: fc.nat(30), hold: fc.oneof(fc.constant(0), fc.nat(4)), safety: fc.oneof(fc.constant(0), fc.nat(3)) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('reserve' as const), lines: fc.array(fc.record({ sku: fc.nat(SKUS - 1), qty: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), res: fc.nat(50), partial: fc.option(fc.record({ sku: fc.nat(SKUS - 1), qty: fc.integer({ min: 1, max: 4 }) })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const), res: fc.nat(50), partial: fc.option(fc.record({ sku: fc.nat(SKUS - 1), qty: fc.integer({ min: 1, max: 4 }) })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extend' as const), res: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), res: fc.nat(50) }) },
);

interface Pos {
  onHand: number;
  hold: number;
  safety: number;
}
interface Res {
  id: string;
  status: 'held' | 'committed' | 'released' | 'expired';
  /** active units by `sku@loc` */
  held: Map<string, number>;
  shipped: boolean;
}

let runNo = 0;

it('random sequences keep every invariant and agree with the model', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(30), { minLength: SKUS * LOCS.length, maxLength: SKUS * LOCS.length }), fc.array(cmdArb, { minLength: 5, maxLength: 30 }), async (seed, steps) => {
      // every run starts from stocked positions, so reservations (and then the verbs) happen often
      const cmds: Cmd[] = [...seed.map((onHand, i) => ({ kind: 'set' as const, sku: i % SKUS, loc: Math.floor(i / SKUS), onHand, hold: 0, safety: 0 })), ...steps];
      const run = `M${++runNo}_${Date.now().toString(36)}_`;
      const sku = (i: number) => `${run}S${i}`;
      const key = (s: string, l: string) => `${s}@${l}`;
      const pos = new Map<string, Pos>();
      const reservations: Res[] = [];
      const reservedAt = (k: string) => reservations.reduce((s, r) => s + (r.status === 'held' ? (r.held.get(k) ?? 0) : 0), 0);
      const availAt = (k: string) => {
        const p = pos.get(k);
        return p ? Math.max(0, p.onHand - reservedAt(k) - p.hold - p.safety) : 0;
      };
      const totalAvail = (s: string) => LOCS.reduce((t, l) => t + availAt(key(s, l)), 0);
      const heldOf = (r: Res, s: string) => [...r.held].filter(([k]) => k.startsWith(`${s}@`)).reduce((t, [, q]) => t + q, 0);
      const readHeld = (body: { lines: { sku: string; allocations: { location: string; qty: number }[] }[] }) => {
        const m = new Map<string, number>();
        for (const l of body.lines) for (const a of l.allocations) if (a.qty > 0) m.set(key(l.sku, a.location), (m.get(key(l.sku, a.location)) ?? 0) + a.qty);
        return m;
      };
      const pick = (i: number) => (reservations.length ? reservations[i % reservations.length]! : undefined);

      for (const cmd of cmds) {
        switch (cmd.kind) {
          case 'set': {
            const k = key(sku(cmd.sku), LOCS[cmd.loc]!);
            const r = await t.api.setStock(sku(cmd.sku), LOCS[cmd.loc]!, cmd.onHand, { qualityHold: cmd.hold, safetyStock: cmd.safety });
            // safety stock is a buffer against promising, not a claim: only reserved + hold must fit in onHand
            const fits = reservedAt(k) + cmd.hold <= cmd.onHand;
            expect(r.status, `set ${k} onHand=${cmd.onHand} hold=${cmd.hold}`).toBe(fits ? 200 : 409);
            if (fits) pos.set(k, { onHand: cmd.onHand, hold: cmd.hold, safety: cmd.safety });
            else expect(r.body.type).toMatch(/would-overcommit$/);
            break;
          }
          case 'reserve': {
            const demand = new Map<string, number>();
            for (const l of cmd.lines) demand.set(sku(l.sku), (demand.get(sku(l.sku)) ?? 0) + l.qty);
            const ok = [...demand].every(([s, q]) => totalAvail(s) >= q);
            const r = await t.api.reserve({ orderRef: `${run}o${reservations.length}`, channel: 'web', lines: cmd.lines.map((l) => ({ sku: sku(l.sku), qty: l.qty })), holdSeconds: 3600 });
            expect(r.status, `reserve ${JSON.stringify(cmd.lines)}`).toBe(ok ? 201 : 409);
            if (!ok) {
              expect(r.body.type).toMatch(/insufficient-stock$/);
              break;
            }
            const held = readHeld(r.body);
            for (const [s, q] of demand) expect(LOCS.reduce((t, l) => t + (held.get(key(s, l)) ?? 0), 0), `allocated ${s}`).toBe(q);
            for (const [k, q] of held) expect(q, `allocation at ${k} within what was available`).toBeLessThanOrEqual(availAt(k));
            reservations.push({ id: r.body.id, status: 'held', held, shipped: false });
            break;
          }
          case 'release':
          case 'commit': {
            const res = pick(cmd.res);
            if (!res) break;
            const lines = cmd.partial ? [{ sku: sku(cmd.partial.sku), qty: cmd.partial.qty }] : undefined;
            const r = await (cmd.kind === 'release' ? t.api.release : t.api.commit)(res.id, lines ? { lines } : {});
            const what = `${cmd.kind} ${res.status} ${JSON.stringify(lines)}`;
            if (res.status !== 'held') {
              // full release of a released or expired reservation is a no-op; of a committed one (shipped),
              // anything naming lines, or a commit, is a 409
              expect(r.status, what).toBe(cmd.kind === 'release' && !lines && res.status !== 'committed' ? 200 : 409);
              break;
            }
            if (lines && heldOf(res, lines[0]!.sku) < lines[0]!.qty) {
              expect(r.status, what).toBe(409);
              expect(r.body.type).toMatch(/exceeds-held$/);
              break;
            }
            expect(r.status, what).toBe(200);
            const after = readHeld(r.body);
            const moved = new Map<string, number>();
            for (const [k, q] of res.held) {
              const d = q - (after.get(k) ?? 0);
              expect(d, `${k} never grows`).toBeGreaterThanOrEqual(0);
              if (d > 0) moved.set(k, d);
            }
            if (lines) {
              const s = lines[0]!.sku;
              expect([...moved].reduce((t, [k, d]) => t + (k.startsWith(`${s}@`) ? d : -1e9), 0), 'moved exactly the requested qty of that sku').toBe(lines[0]!.qty);
            } else expect(after.size, 'full verb leaves nothing held').toBe(0);
            if (cmd.kind === 'commit') {
              for (const [k, d] of moved) pos.get(k)!.onHand -= d;
              res.shipped = true;
            }
            res.held = after;
            res.status = after.size > 0 ? 'held' : res.shipped ? 'committed' : 'released';
            expect(r.body.status).toBe(res.status);
            break;
          }
          case 'extend': {
            const res = pick(cmd.res);
            if (!res) break;
            const r = await t.api.extend(res.id, 7200);
            expect(r.status, `extend ${res.status}`).toBe(res.status === 'held' ? 200 : 409);
            break;
          }
          case 'expire': {
            const res = pick(cmd.res);
            if (!res) break;
            await t.sql`update reservations set expires_at = now() - interval '1 second' where id = ${res.id} and status = 'held'`;
            const n = await t.svc.sweep();
            expect(n).toBe(res.status === 'held' ? 1 : 0);
            if (res.status === 'held') {
              res.held = new Map();
              res.status = res.shipped ? 'committed' : 'expired';
            }
            const r = await t.api.get(res.id);
            expect(r.body.status).toBe(res.status);
            break;
          }
        }
        // the database agrees with the model after every step
        const rows = await t.sql<{ sku: string; location: string; on_hand: number; reserved: number }[]>`
          select sku, location, on_hand, reserved from positions where sku like ${`${run}%`}`;
        for (const row of rows) {
          const k = key(row.sku, row.location);
          expect(row.on_hand, `onHand ${k}`).toBe(pos.get(k)?.onHand ?? 0);
          expect(row.reserved, `reserved ${k}`).toBe(reservedAt(k));
        }
      }
      await expectInvariants(t.db.url, run);
    }),
    { numRuns: 40, endOnFailure: true },
  );
});

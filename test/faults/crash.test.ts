/**
 * Fault: the process dies. The service runs as a child process (tsx src/index.ts on a fresh test
 * database) under reservation load from many concurrent clients, each request with its own
 * Idempotency-Key; it is SIGKILLed at random moments (no graceful path: in-flight transactions
 * are cut wherever they are) and restarted, and the clients retry with the same keys and bodies
 * until answered.
 *
 * Invariants proven afterwards, from the tables:
 * - every 201 a client saw is in the database exactly once, by id and by key, with the
 *   allocations the client was told (acknowledged reservations lost = 0);
 * - every replayed 201 is byte-for-byte the first answer for its key;
 * - no unit oversold; reserved == Σ active allocations per position; Σ ledger deltas == onHand
 *   and reserved; seeded − shipped == onHand; no line allocated twice by a retry;
 * - holds that expired (short holdSeconds) are released by the sweeper of a later incarnation.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { writeFigures } from './helpers/figures.js';
import { checkInvariants, violations, waitForExpiry } from './helpers/invariants.js';
import { loadFigures, newStats, runLoad } from './helpers/load.js';
import { rng, scale, SEED, sleep } from './helpers/scale.js';
import { seedStock } from './helpers/seed.js';
import { type ServiceProcess, startService } from './helpers/service-process.js';

const KILLS = scale(4, 25);
const CLIENTS = scale(24, 48);
const SKUS = ['CR-A', 'CR-B', 'CR-C', 'CR-D'];
const LOCATIONS = ['DC1', 'DC2'];

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let svc: ServiceProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await svc?.stop();
  await db?.drop();
});

it(`survives ${KILLS} SIGKILLs under idempotent reservation load: nothing acknowledged is lost, nothing oversold`, { timeout: scale(150_000, 900_000) }, async () => {
  const random = rng(SEED);
  svc = await startService('crash', {
    DATABASE_URL: db.url,
    ATP_DB_POOL_MAX: '8',
    ATP_SWEEP_INTERVAL_MS: '200',
  });
  const s = svc;
  const seeded = await seedStock(s.url, SKUS, LOCATIONS, 400);

  let down = false;
  let stop = false;
  let inFlightAtKill = 0;
  const restartMs: number[] = [];
  const result = newStats();
  const load = runLoad({
    base: () => s.url,
    clients: CLIENTS,
    prefix: 'crash',
    skus: SKUS,
    channels: ['web', 'store', 'b2b'],
    random,
    deadlineMs: 30_000,
    stopped: () => stop,
    underFault: () => down,
    shortHold: { share: 0.3, seconds: 2 },
    release: 0.2,
    commit: 0.15,
    replay: 0.1,
  }, result);
  for (let k = 0; k < KILLS; k++) {
    await sleep(400 + random() * 1600);
    down = true;
    inFlightAtKill += result.inFlight;
    await s.kill('SIGKILL');
    const t = Date.now();
    await s.restart();
    restartMs.push(Date.now() - t);
    down = false;
  }
  await sleep(1000);
  stop = true;
  await load;

  // the last incarnation's sweeper releases every hold that expired, including those whose
  // expiry fell while the service was dead
  const expiry = await waitForExpiry(db.url, 30_000);
  const inv = await checkInvariants(db.url, { acked: result.acked.values(), seeded });

  const figures = {
    requestsUnderFault: result.requestsUnderFault,
    faultsInjected: { sigkill: KILLS },
    acknowledgedLost: inv.acknowledgedLost + inv.acknowledgedDiffer,
    unitsOversold: inv.unitsOversold,
    inFlightAtKill,
    restartMs,
    unexpectedExits: s.unexpectedExits,
    load: loadFigures(result),
    expiry,
    invariants: inv,
  };
  writeFigures('crash', figures);

  expect(result.acked.size).toBeGreaterThan(0);
  expect(violations(inv), inv.details.join('\n')).toEqual({});
  expect({
    deadlines: result.deadlines,
    serverErrors: result.serverErrors,
    missingRetryAfter: result.missingRetryAfter,
    notProblem: result.notProblem,
    unexpected4xx: result.unexpected4xx,
    gaveUp: result.gaveUp,
    replayMismatches: result.replayMismatches,
    unexpectedExits: s.unexpectedExits,
    overdueHolds: expiry.overdue,
  }, result.samples.join('\n')).toEqual({
    deadlines: 0,
    serverErrors: 0,
    missingRetryAfter: 0,
    notProblem: 0,
    unexpected4xx: 0,
    gaveUp: 0,
    replayMismatches: 0,
    unexpectedExits: 0,
    overdueHolds: 0,
  });
  expect(expiry.expired).toBeGreaterThan(0);
});

/**
 * Faults in the database under reservation load (the service runs as a child process; clients
 * retry with the same Idempotency-Key until answered).
 *
 * 1. pg_terminate_backend on the service's own connections, again and again, mid-load (on the
 *    shared Postgres, filtered to this file's database by datname — no one else's backends).
 * 2. Postgres itself stopped (fast and immediate) and restarted mid-load — on a PRIVATE cluster
 *    initdb'd in a temp dir on a random port, never the shared one.
 *
 * Proven: the service recovers on its own (no restart of the service); while the database is
 * gone every request is answered within a deadline, reservations and reads with 503 +
 * Retry-After problem+json (never a 500, never a hang); afterwards every acknowledged 201 is
 * present exactly once with what the client was told, nothing is oversold, and reserved / ledger
 * / channel holds all balance.
 */
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { writeFigures } from './helpers/figures.js';
import { call, isProblem } from './helpers/http.js';
import { checkInvariants, violations } from './helpers/invariants.js';
import { type LoadStats, loadFigures, newStats, runLoad } from './helpers/load.js';
import { type PrivatePostgres, startPrivatePostgres } from './helpers/private-postgres.js';
import { rng, scale, SEED, sleep } from './helpers/scale.js';
import { seedStock } from './helpers/seed.js';
import { type ServiceProcess, startService } from './helpers/service-process.js';

const SKUS = ['DB-A', 'DB-B', 'DB-C'];
const LOCATIONS = ['DC1', 'DC2'];
/** per request: generous against statement_timeout (5 s) + connect_timeout (5 s); a miss is a hang */
const DEADLINE_MS = 25_000;
const SERVICE_ENV = { ATP_DB_POOL_MAX: '8', ATP_STATEMENT_TIMEOUT_MS: '5000', ATP_SWEEP_INTERVAL_MS: '500' };

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

function loadConfig(base: () => string, stats: LoadStats, flags: { stop: boolean; fault: boolean }, prefix: string, random: () => number) {
  return runLoad(
    {
      base,
      clients: scale(16, 32),
      prefix,
      skus: SKUS,
      channels: ['web', 'store'],
      random,
      deadlineMs: DEADLINE_MS,
      stopped: () => flags.stop,
      underFault: () => flags.fault,
      release: 0.2,
      commit: 0.1,
      replay: 0.1,
      giveUpMs: 90_000,
    },
    stats,
  );
}

function hygiene(stats: LoadStats, svc: ServiceProcess) {
  return {
    deadlines: stats.deadlines,
    serverErrors: stats.serverErrors,
    missingRetryAfter: stats.missingRetryAfter,
    notProblem: stats.notProblem,
    unexpected4xx: stats.unexpected4xx,
    gaveUp: stats.gaveUp,
    replayMismatches: stats.replayMismatches,
    unexpectedExits: svc.unexpectedExits,
  };
}
const CLEAN = { deadlines: 0, serverErrors: 0, missingRetryAfter: 0, notProblem: 0, unexpected4xx: 0, gaveUp: 0, replayMismatches: 0, unexpectedExits: 0 };

it('pg_terminate_backend on the service connections mid-load: 503s, recovery, invariants hold', { timeout: scale(120_000, 600_000) }, async () => {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  const dbName = new URL(db.url).pathname.slice(1);
  const svc = await startService('db-terminate', { DATABASE_URL: db.url, ...SERVICE_ENV });
  cleanup.push(() => svc.stop());
  const seeded = await seedStock(svc.url, SKUS, LOCATIONS, 500);
  const admin = postgres(db.url.replace(/\/[^/]*$/, '/postgres'), { max: 1, onnotice: () => {} });
  cleanup.push(() => admin.end());

  const random = rng(SEED);
  const stats = newStats();
  const flags = { stop: false, fault: false };
  const load = loadConfig(() => svc.url, stats, flags, 'term', random);

  let injections = 0;
  let terminated = 0;
  const until = Date.now() + scale(10_000, 120_000);
  while (Date.now() < until) {
    await sleep(150 + random() * 500);
    flags.fault = true;
    // only this test's database, only the service's pool (application_name), never our own backend
    const rows = await admin<{ ok: boolean }[]>`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
      where datname = ${dbName} and application_name = 'atp-service' and pid <> pg_backend_pid()
        ${random() < 0.5 ? admin`and state = 'active'` : admin``}`;
    injections++;
    terminated += rows.filter((r) => r.ok).length;
    await sleep(300);
    flags.fault = false;
  }
  flags.stop = true;
  await load;

  const ready = await call(`${svc.url}/readyz`, { deadlineMs: DEADLINE_MS });
  const inv = await checkInvariants(db.url, { acked: stats.acked.values(), seeded });
  writeFigures('db-terminate', {
    requestsUnderFault: stats.requestsUnderFault,
    faultsInjected: { pg_terminate_backend_rounds: injections, backends_terminated: terminated },
    acknowledgedLost: inv.acknowledgedLost + inv.acknowledgedDiffer,
    unitsOversold: inv.unitsOversold,
    answered503: stats.byStatus[503] ?? 0,
    readyAfter: ready.kind === 'response' ? ready.status : ready.kind,
    load: loadFigures(stats),
    invariants: inv,
  });

  expect(terminated).toBeGreaterThan(0);
  expect(stats.acked.size).toBeGreaterThan(0);
  expect(hygiene(stats, svc), stats.samples.join('\n')).toEqual(CLEAN);
  expect(violations(inv), inv.details.join('\n')).toEqual({});
  expect(ready.kind === 'response' && ready.status).toBe(200);
});

it('Postgres stopped and restarted mid-load (private cluster): 503 + Retry-After while down, recovers alone, invariants hold', { timeout: scale(150_000, 900_000) }, async () => {
  const pg: PrivatePostgres = await startPrivatePostgres();
  cleanup.push(() => pg.destroy());
  const setup = postgres(pg.url(), { max: 1, onnotice: () => {} });
  await setup`create database atp`;
  await setup.end();
  const url = pg.url('atp');
  const svc = await startService('db-restart', { DATABASE_URL: url, ...SERVICE_ENV });
  cleanup.push(() => svc.stop());
  const seeded = await seedStock(svc.url, SKUS, LOCATIONS, 500);

  const random = rng(SEED + 1);
  const stats = newStats();
  const flags = { stop: false, fault: false };
  const load = loadConfig(() => svc.url, stats, flags, 'restart', random);

  const RESTARTS = scale(2, 12);
  const probes = { sent: 0, answered: 0, byStatus: {} as Record<string, number>, hangs: 0, wrong: [] as string[] };
  const recoveryMs: number[] = [];
  const modes: Record<string, number> = {};
  for (let k = 0; k < RESTARTS; k++) {
    await sleep(1000 + random() * 1500);
    const mode = k % 2 === 0 ? 'fast' : 'immediate';
    modes[mode] = (modes[mode] ?? 0) + 1;
    flags.fault = true;
    pg.stop(mode);
    // the database is gone: every probe must be answered, 503 problem + Retry-After (readyz: 503)
    const downUntil = Date.now() + 1500 + random() * 1500;
    while (Date.now() < downUntil) {
      const n = probes.sent;
      const targets = [
        { path: '/v1/atp?sku=DB-A', init: {} },
        { path: '/readyz', init: {} },
        {
          path: '/v1/reservations',
          init: {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': `probe-${k}-${n}` },
            body: JSON.stringify({ orderRef: `probe-${k}-${n}`, channel: 'web', lines: [{ sku: 'DB-B', qty: 1 }] }),
          },
        },
      ];
      const outcomes = await Promise.all(targets.map((t) => call(svc.url + t.path, { ...t.init, deadlineMs: DEADLINE_MS })));
      outcomes.forEach((o, i) => {
        probes.sent++;
        const what = targets[i]!.path;
        if (o.kind === 'deadline') return void probes.hangs++;
        if (o.kind !== 'response') return void probes.wrong.push(`${what}: ${o.kind} ${o.message}`);
        probes.answered++;
        probes.byStatus[o.status] = (probes.byStatus[o.status] ?? 0) + 1;
        const fine = what === '/readyz' ? o.status === 503 : o.status === 503 && isProblem(o) && !!o.headers.get('retry-after');
        if (!fine) probes.wrong.push(`${what}: ${o.status} ${o.text.slice(0, 300)} retry-after=${o.headers.get('retry-after')}`);
      });
      await sleep(100);
    }
    pg.start();
    // recovered: the first reservation through after the restart, without restarting the service
    const t = Date.now();
    for (let i = 0; ; i++) {
      const o = await call(`${svc.url}/v1/atp?sku=DB-A`, { deadlineMs: DEADLINE_MS });
      if (o.kind === 'response' && o.status === 200) break;
      if (Date.now() - t > 60_000) throw new Error(`service did not recover within 60 s after restart ${k}: ${JSON.stringify(o)}`);
      await sleep(50);
    }
    recoveryMs.push(Date.now() - t);
    flags.fault = false;
  }
  await sleep(1000);
  flags.stop = true;
  await load;

  const inv = await checkInvariants(url, { acked: stats.acked.values(), seeded });
  // probes sent while the database was down never got a 201, so they changed nothing
  writeFigures('db-restart', {
    requestsUnderFault: stats.requestsUnderFault + probes.sent,
    faultsInjected: Object.fromEntries(Object.entries(modes).map(([m, n]) => [`pg_restart_${m}`, n])),
    acknowledgedLost: inv.acknowledgedLost + inv.acknowledgedDiffer,
    unitsOversold: inv.unitsOversold,
    probesWhileDown: probes,
    recoveryMs,
    load: loadFigures(stats),
    invariants: inv,
  });

  expect(stats.acked.size).toBeGreaterThan(0);
  expect(probes.answered).toBeGreaterThan(0);
  expect({ hangs: probes.hangs, wrong: probes.wrong }).toEqual({ hangs: 0, wrong: [] });
  expect(hygiene(stats, svc), stats.samples.join('\n')).toEqual(CLEAN);
  expect(violations(inv), inv.details.join('\n')).toEqual({});
});

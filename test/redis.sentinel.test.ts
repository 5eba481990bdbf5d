/**
 * A client made by src/redis-connection.ts under Sentinel never ends by itself. ioredis 6 ends a
 * sentinel client for good when its connector is closed under a pending connect — what its
 * failover detector does when `+switch-master` arrives while the client is still reconnecting
 * after losing the old master (the failover rounds of `npm run test:ha` hit it: the outbox relay
 * stopped publishing). The race is injected here deterministically by closing the connector
 * right after connect() starts, against a real private redis-server and a real sentinel.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedis } from '../src/redis-connection.js';
import { freePort, PrivateRedis } from './helpers/redis-server.js';

let master: PrivateRedis;
let sentinel: ChildProcess;
let sentinelPort: number;
let dir: string;

/** wait for the outside world (a process start, a reconnect); the deadline only turns a hang into a message */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 15_000) {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  master = await PrivateRedis.start();
  sentinelPort = await freePort();
  dir = mkdtempSync(path.join(tmpdir(), 'atp-sentinel-'));
  const conf = path.join(dir, 'sentinel.conf');
  writeFileSync(conf, [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor t 127.0.0.1 ${master.port} 1`, ''].join('\n'));
  sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const probe = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  probe.on('error', () => {});
  await waitFor('the sentinel names the master', async () => {
    try {
      if (probe.status === 'wait' || probe.status === 'end') await probe.connect();
      const addr = (await probe.call('sentinel', 'get-master-addr-by-name', 't')) as string[] | null;
      return addr?.[1] === String(master.port);
    } catch {
      return false;
    }
  });
  probe.disconnect();
});
afterAll(async () => {
  sentinel?.kill('SIGKILL');
  await master?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('a sentinel client whose connector is closed under a pending connect (the failover detector race) connects again', async () => {
  const client = createRedis({ kind: 'sentinel', sentinels: [{ host: '127.0.0.1', port: sentinelPort }], name: 't' }, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    const statuses: string[] = [];
    client.on('end', () => statuses.push('end'));
    client.connect().catch(() => {});
    // what FailoverDetector does on +switch-master: close the connector (not the client)
    (client as unknown as { connector: { disconnect(): void } }).connector.disconnect();
    await waitFor('the connect attempt failed', () => statuses.includes('end'));
    await waitFor('the client is ready again', () => client.status === 'ready');
    expect(await client.set('atp:test:sentinel', 'ok')).toBe('OK');
  } finally {
    client.disconnect();
  }
});

/**
 * A TCP proxy in front of Postgres that counts what clients send: statements (each simple Query
 * `Q` and each extended-protocol `Sync` `S` ends one statement the server answers) and socket
 * writes (flushes: pipelined statements share one). Point a service's DATABASE_URL at `url` to
 * count the round trips a request costs (pg_stat_statements is not loaded on the shared server).
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface PgCounter {
  /** DATABASE_URL through the proxy */
  url: string;
  counts(): { statements: number; writes: number; texts: string[] };
  reset(): void;
  close(): Promise<void>;
}

/** Proxy `databaseUrl` (a postgres:// URL on TCP) through a counting listener on 127.0.0.1. */
export async function pgCounter(databaseUrl: string): Promise<PgCounter> {
  const target = new URL(databaseUrl);
  let statements = 0;
  let writes = 0;
  let texts: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(client).add(upstream);
    let started = false;
    let buf = Buffer.alloc(0);
    let pendingParse: string | undefined;
    const prepared = new Map<string, string>();
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (started) writes++;
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 8) break;
          const len = buf.readInt32BE(0);
          if (buf.length < len) break;
          const code = buf.readInt32BE(4);
          buf = buf.subarray(len);
          // SSLRequest / GSSENCRequest are followed by another untyped startup message
          if (code !== 80877103 && code !== 80877104) started = true;
          continue;
        }
        if (buf.length < 5) break;
        const type = String.fromCharCode(buf[0]!);
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) break;
        const body = buf.subarray(5, 1 + len);
        if (type === 'Q') {
          statements++;
          texts.push(body.toString('utf8', 0, Math.max(0, body.length - 1)).replace(/\s+/g, ' ').slice(0, 120));
        } else if (type === 'P') {
          // Parse: name\0 query\0 …
          const nameEnd = body.indexOf(0);
          const qEnd = body.indexOf(0, nameEnd + 1);
          pendingParse = body.toString('utf8', nameEnd + 1, qEnd).replace(/\s+/g, ' ').slice(0, 120);
          if (nameEnd > 0) prepared.set(body.toString('utf8', 0, nameEnd), pendingParse);
        } else if (type === 'B') {
          // Bind: portal\0 statement\0 …
          const portalEnd = body.indexOf(0);
          const stmtEnd = body.indexOf(0, portalEnd + 1);
          pendingParse ??= prepared.get(body.toString('utf8', portalEnd + 1, stmtEnd));
        } else if (type === 'S') {
          statements++;
          texts.push(pendingParse ?? '(prepared)');
          pendingParse = undefined;
        }
        buf = buf.subarray(1 + len);
      }
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    counts: () => ({ statements, writes, texts: [...texts] }),
    reset: () => {
      statements = 0;
      writes = 0;
      texts = [];
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

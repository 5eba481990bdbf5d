/**
 * Entry point: parse config (fail fast), build the service, listen, and shut down gracefully on
 * SIGTERM/SIGINT:
 *  1. mark the instance draining: /readyz answers 503, every response carries `Connection: close`;
 *  2. stop accepting connections; close idle keep-alive connections (again every 50 ms, as
 *     in-flight responses finish), so every request already received gets its answer;
 *  3. when the last connection is gone: stop the sweeper, let every queued and in-flight batch
 *     commit, stop the rules store (and any outbox relay hooked into `service.stop`), close pools,
 *     flush telemetry;
 *  4. exit 0 — or exit 1 if that took longer than ATP_SHUTDOWN_TIMEOUT_MS.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.js';
import { describeRedis, redisTarget } from './redis-connection.js';
import { isOrphanedConnectionLoss, isPostgresJsClosedSocketWrite } from './db/driver-guard.js';
import { answerMalformedRequests } from './http/client-error.js';
import { createService } from './service.js';
import { safeError } from './logger.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  let service;
  try {
    // the availability feed's publisher runs in every instance (they take turns; ATP_AVAILABILITY_INTERVAL_MS=0: off)
    service = await createService(config, { availability: true });
  } catch (err) {
    // messages name the variable or the unreachable dependency; they never contain a key
    console.error(`cannot start: ${(err as Error).message}`);
    process.exit(2);
  }
  const { logger } = service;
  process.on('uncaughtException', (err, origin) => {
    if (isPostgresJsClosedSocketWrite(err)) {
      logger.error({ err: safeError(err) }, 'postgres.js wrote to a closed connection (known driver defect, see src/db/driver-guard.ts); continuing');
      return;
    }
    if (isOrphanedConnectionLoss(err, origin)) {
      logger.error({ err: safeError(err), origin }, 'a query on a lost database connection had no awaiter left (see src/db/driver-guard.ts); continuing');
      return;
    }
    // origin: 'uncaughtException' (thrown) or 'unhandledRejection' (a promise nobody awaited)
    logger.fatal({ err: safeError(err), origin }, 'uncaught exception; exiting');
    process.exit(1);
  });
  if (service.keys.open) {
    const warning = 'ATP_API_KEYS is not set: authentication is OFF and every request is allowed (development only; NODE_ENV=production refuses to start like this)';
    logger.warn(warning);
    console.error(`WARNING: ${warning}`);
  }
  const server = serve({ fetch: service.app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    const mode = service.database.mode === 'pglite' ? `embedded PGlite at ${config.ATP_DATA_DIR}` : 'Postgres';
    const redis = redisTarget(config);
    const rules = redis ? `rules in Postgres, live copy in Redis (${describeRedis(redis)})` : 'rules in Postgres';
    logger.info({ port: info.port, mode: service.database.mode }, 'listening');
    console.log(`ATP service listening on http://localhost:${info.port} (${mode}; ${rules})`);
  }) as Server;
  answerMalformedRequests(server);

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    service.lifecycle.draining = true;
    logger.info({ signal, boundMs: config.ATP_SHUTDOWN_TIMEOUT_MS }, 'shutting down: draining');
    const force = setTimeout(() => {
      logger.error({ boundMs: config.ATP_SHUTDOWN_TIMEOUT_MS }, 'shutdown bound exceeded; exiting');
      process.exit(1);
    }, config.ATP_SHUTDOWN_TIMEOUT_MS);
    force.unref();
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    server.close(async () => {
      clearInterval(idle);
      try {
        await service.stop();
        logger.info('stopped');
        process.exit(0);
      } catch (err) {
        logger.error({ err: safeError(err).message }, 'error while stopping');
        process.exit(1);
      }
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

await main();

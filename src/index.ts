/**
 * Entry point: parse config (fail fast), build the service, listen, and shut down gracefully on
 * SIGTERM/SIGINT (stop accepting, finish in-flight batches, close pools, exit within a bound).
 */
import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from './config.js';
import { isPostgresJsClosedSocketWrite } from './db/driver-guard.js';
import { answerMalformedRequests } from './http/client-error.js';
import { createService } from './service.js';

const SHUTDOWN_BOUND_MS = 15_000;

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
  const service = await createService(config);
  const { logger } = service;
  process.on('uncaughtException', (err) => {
    if (isPostgresJsClosedSocketWrite(err)) {
      logger.error({ err: { name: err.name, message: err.message } }, 'postgres.js wrote to a closed connection (known driver defect, see src/db/driver-guard.ts); continuing');
      return;
    }
    logger.fatal({ err: { name: err.name, message: err.message, stack: err.stack } }, 'uncaught exception; exiting');
    process.exit(1);
  });
  if (service.keys.open) {
    logger.warn('ATP_API_KEYS is not set: every request is allowed (development only; NODE_ENV=production refuses to start like this)');
  }
  const server = serve({ fetch: service.app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    const mode = service.database.mode === 'pglite' ? `embedded PGlite at ${config.ATP_DATA_DIR}` : 'Postgres';
    const rules = config.REDIS_URL ? 'rules in Redis' : 'rules in process';
    logger.info({ port: info.port, mode: service.database.mode }, 'listening');
    console.log(`ATP service listening on http://localhost:${info.port} (${mode}; ${rules})`);
  });
  answerMalformedRequests(server);

  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown bound exceeded; exiting');
      process.exit(1);
    }, SHUTDOWN_BOUND_MS);
    force.unref();
    server.close(async () => {
      await service.stop();
      logger.info('stopped');
      process.exit(0);
    });
    // close idle keep-alive connections so close() can complete; in-flight requests finish
    (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

await main();

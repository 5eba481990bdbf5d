/** What every route module gets: the assembled dependencies and the typed Hono environment. */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Config } from '../config.js';
import type { Clock } from '../db/clock.js';
import type { Database } from '../db/client.js';
import type { OutboxRelay } from '../events/relay.js';
import type { Logger } from '../logger.js';
import type { RulesStore } from '../rules/store.js';
import type { Allocator } from '../services/reservations/allocator.js';
import type { Catalog } from '../services/catalog/catalog.js';
import type { Reader } from '../reads/reader.js';
import type { Telemetry } from '../telemetry/index.js';
import type { KeyRing, Principal } from './auth.js';
import { IdempotencyKeyRequired } from '../domain/errors.js';
import { validationError } from './problem.js';

export interface AppDeps {
  config: Config;
  database: Database;
  rules: RulesStore;
  allocator: Allocator;
  catalog: Catalog;
  /** the read path (src/reads/): ATP, promise, the sold-out check */
  reads: Reader;
  keys: KeyRing;
  logger: Logger;
  /** the outbox relay, when REDIS_URL is set */
  relay?: OutboxRelay | undefined;
  telemetry: Telemetry;
  /** set when graceful shutdown starts: /readyz answers 503 and responses carry Connection: close */
  lifecycle: Lifecycle;
  /** tests only: the source of "now" bound in place of Postgres now() (db/clock.ts) */
  clock?: Clock | undefined;
}

export interface Lifecycle {
  draining: boolean;
}

export interface AppEnv {
  Variables: { principal: Principal; requestId: string };
}

export type Router = OpenAPIHono<AppEnv>;

/**
 * A router whose validation failures become 400 problem+json naming each bad field; a missing
 * Idempotency-Key is its own code (`idempotency-key-required`, as the README lists it), a
 * malformed one is `validation-failed`.
 */
export function newRouter(): Router {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const { issues } = result.error;
      if (result.target === 'header' && issues.some((i) => i.path[0] === 'idempotency-key' && i.code === 'invalid_type')) throw new IdempotencyKeyRequired();
      throw validationError(result.target, result.error);
    },
  });
}

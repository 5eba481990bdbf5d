/**
 * Where the rules in force live. `MemoryRulesStore` is the embedded default (no REDIS_URL):
 * the same schema and API, kept in process. The Redis-backed store implements the same
 * interface so every instance enforces the same version.
 */
import { PreconditionFailed } from '../domain/errors.js';
import { DEFAULT_RULES, type RulesDocument, type RulesInput } from './schema.js';

export interface RulesStatus {
  source: 'memory' | 'redis';
  version: number;
  /** false when the backing store cannot be reached and the last good copy is being served */
  fresh: boolean;
  /** ms since the rules in memory were last confirmed against the store */
  ageMs: number;
}

export interface RulesStore {
  /** the rules in force: synchronous, never a network call (hot path) */
  current(): RulesDocument;
  /** replace the rules; `ifVersion` makes it conditional (optimistic concurrency) */
  put(input: RulesInput, ifVersion?: number): Promise<RulesDocument>;
  status(): RulesStatus;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class MemoryRulesStore implements RulesStore {
  private doc: RulesDocument = DEFAULT_RULES;

  current(): RulesDocument {
    return this.doc;
  }

  async put(input: RulesInput, ifVersion?: number): Promise<RulesDocument> {
    if (ifVersion !== undefined && ifVersion !== this.doc.version) {
      throw new PreconditionFailed(`rules are at version ${this.doc.version}, not ${ifVersion}`, { currentVersion: this.doc.version });
    }
    this.doc = { ...input, version: this.doc.version + 1, updatedAt: new Date().toISOString() };
    return this.doc;
  }

  status(): RulesStatus {
    return { source: 'memory', version: this.doc.version, fresh: true, ageMs: 0 };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

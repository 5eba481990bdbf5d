/**
 * Where the rules in force live. `MemoryRulesStore` is the embedded default (no REDIS_URL):
 * the same schema and API, kept in process. The Redis-backed store implements the same
 * interface so every instance enforces the same version.
 */
import { PreconditionFailed } from '../domain/errors.js';
import { DEFAULT_RULES, type RulesDocument, type RulesInput } from './schema.js';

export interface RulesStatus {
  source: 'memory' | 'redis';
  /** `degraded`: the backing store cannot be reached (or holds an invalid document) and the last good copy is being served */
  state: 'fresh' | 'degraded';
  /** version of the rules in force in this instance */
  version: number;
  /** seconds since the rules in memory were last confirmed against the store */
  ageSeconds: number;
  /** false only while an instance has never loaded the rules from its store (it then enforces the defaults) */
  loaded: boolean;
  /** why the state is degraded */
  detail?: string;
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
    return { source: 'memory', state: 'fresh', version: this.doc.version, ageSeconds: 0, loaded: true };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

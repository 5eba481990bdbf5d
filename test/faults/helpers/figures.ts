/**
 * Each fault test writes its figures to `.faults/report-<name>.json` (gitignored); the combined
 * report (`test/faults/report.ts`, run by `npm run test:faults`) reads them all.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LONG, SEED } from './scale.js';

export const FAULTS_DIR = path.resolve(import.meta.dirname, '../../../.faults');

export interface Figures {
  /** HTTP requests sent while a fault was being injected or recovering */
  requestsUnderFault: number;
  /** faults injected, by kind (sigkill, pg_terminate_backend, pg_restart, lock_held …) */
  faultsInjected: Record<string, number>;
  /** hostile inputs tried (fuzzing) */
  inputsTried?: number;
  /** 201s the clients saw whose reservation is not in the database exactly once (must be 0) */
  acknowledgedLost: number;
  /** Σ over positions of max(0, reserved + qualityHold − onHand), and acknowledged units beyond stock (must be 0) */
  unitsOversold: number;
  /** anything else worth recording (status counts, replays, recovery) */
  [k: string]: unknown;
}

export function writeFigures(name: string, figures: Figures): string {
  mkdirSync(FAULTS_DIR, { recursive: true });
  const file = path.join(FAULTS_DIR, `report-${name}.json`);
  writeFileSync(file, JSON.stringify({ name, long: LONG, seed: SEED, at: new Date().toISOString(), ...figures }, null, 2) + '\n');
  return file;
}

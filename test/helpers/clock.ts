/**
 * The test clock (src/db/clock.ts): time moves only when the test says so. Passed to
 * createService as `clock`, its instant is bound in place of Postgres now() by every writer,
 * and it drives the catalog and sold-out memory TTLs — tests move time instead of sleeping.
 */
import type { Clock } from '../../src/db/clock.js';

export class ManualClock implements Clock {
  private at: Date;

  /** starts at `start` (default: a fixed instant, so runs are repeatable) */
  constructor(start: Date | string = '2030-01-01T00:00:00.000Z') {
    this.at = new Date(start);
  }

  now(): Date {
    return this.at;
  }

  /** Jump to an instant (may go back: tests of "not yet" set it just before a deadline). */
  set(at: Date | string): void {
    this.at = new Date(at);
  }

  advance(ms: number): void {
    this.at = new Date(this.at.getTime() + ms);
  }
}

/** An ISO instant (milliseconds, as the service answers) written to the microsecond, as Postgres stores it. */
export const micros = (iso: string): string => iso.replace(/Z$/, '000Z');

/** SQL text of a timestamptz to the microsecond in UTC, comparable with `micros(...)`. */
export const US_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

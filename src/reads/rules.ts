/**
 * The rules a read applies: never older than the latest version the read statement saw in
 * Postgres (read-your-writes for rules across instances, issue 15). The store's copy in memory is
 * used while it is that version or newer; a newer version comes back in the same statement
 * (its document only when newer than what this instance knows), is validated, applied to the store
 * (so the write path of this instance moves to it too) and used at once.
 *
 * A stored version that is not a valid rules document is never applied (as in the store): reads
 * go on with the last good version, and that version's text is not fetched again.
 */
import type { RulesStore } from '../rules/store.js';
import { RulesDocument } from '../contract/rules.js';
import type { RulesRow } from './snapshot.js';

export class ReadRules {
  /** the newest valid document seen by a read, when newer than the store's */
  private seen: RulesDocument | undefined;
  /** the newest version found invalid (its text is not asked for again) */
  private invalid = -1;

  constructor(private readonly store: RulesStore) {}

  /** What the read statement passes as "known": a document newer than this comes back with it. */
  known(): number {
    return Math.max(this.store.current().version, this.seen?.version ?? -1, this.invalid);
  }

  /** The rules for a read whose statement saw `row` (undefined: no rules stored yet). */
  resolve(row: RulesRow | undefined): RulesDocument {
    const mine = this.newest();
    if (!row || row.version <= mine.version) return mine;
    if (row.doc) {
      const doc = RulesDocument.safeParse({ ...(JSON.parse(row.doc.json) as object), version: row.version, updatedAt: row.doc.updatedAt });
      if (doc.success) {
        this.seen = doc.data;
        this.store.observe?.(doc.data);
        return this.newest();
      }
      this.invalid = Math.max(this.invalid, row.version);
    }
    // a version we know is invalid, or one a concurrent statement already fetched
    return this.newest();
  }

  private newest(): RulesDocument {
    const mine = this.store.current();
    return this.seen && this.seen.version > mine.version ? this.seen : mine;
  }
}

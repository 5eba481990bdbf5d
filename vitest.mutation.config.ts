/**
 * The test files Stryker runs for every mutant of src/domain/** and src/rules/** (`npm run
 * test:mutation`, stryker.config.mjs): the pure unit and property tests of the decision code
 * (test/unit/). No test here
 * opens a Postgres database: one mutant run must take well under a second per test.
 *
 * Every test in these files is a top-level `it` (no `describe`): with vitest 5, the Stryker vitest
 * runner (9.6) selects the tests covering a mutant by a name pattern that joins suite and test
 * names with ' ', while vitest 5 matches it against names joined with ' > ' — a test inside a
 * `describe` is never selected, and its mutants would all "survive" with 0 tests run. That is why
 * test/allocate.test.ts and test/rules.property.test.ts (describe blocks) are not listed here;
 * test/unit/decision.model.test.ts covers the same decision against an independent model.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/rules.compiled.test.ts', 'test/schema-import-order.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

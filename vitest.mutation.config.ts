/**
 * The test files Stryker runs for every mutant of src/domain/** and src/rules/** (`npm run
 * test:mutation`, stryker.config.mjs): the pure unit and property tests of the decision code,
 * plus the Redis rules-store tests (real Redis, milliseconds each). No test here opens a
 * Postgres database: one mutant run must take well under a second per test.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/allocate.test.ts',
      'test/rules.property.test.ts',
      'test/schema-import-order.test.ts',
      'test/unit/**/*.test.ts',
      'test/rules.redis-store.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

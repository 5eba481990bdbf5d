// Mutation testing of the pure decision code: `npm run test:mutation` (see docs/TESTING.md).
// Mutates where the pure decision code lives: src/domain/** and the rules' pure half
// (src/rules/policy.ts) and the rules document's shape (src/contract/rules.ts, once src/rules/schema.ts). The rules stores beside them (store.ts,
// redis-store.ts, versions.ts) are SQL and Redis I/O, proved by the database tests and the
// deliberate breaks, not per mutant. Runs the pure tests listed in vitest.mutation.config.ts for
// each mutant (per-test coverage: only the tests that reach it).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: ['src/domain/**/*.ts', 'src/rules/policy.ts', 'src/contract/rules.ts'],
  coverageAnalysis: 'perTest',
  // a shared 2-core box: at most two test-runner processes
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Stryker's own score (mutants without coverage count as undetected) must stay ≥ 85 %
  thresholds: { high: 90, low: 85, break: 85 },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  timeoutMS: 20_000,
};

import { defineConfig } from 'vitest/config';

/** `npm run test:browser`: the headless-chromium checks, kept out of `npm test` (they need `chromium`). */
export default defineConfig({
  test: { include: ['test/browser/**/*.browser.ts'], testTimeout: 240_000, hookTimeout: 120_000, pool: 'forks' },
});

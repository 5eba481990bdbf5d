/**
 * Layer directions (docs/ARCHITECTURE.md, issue 18), checked by dependency-cruiser from
 * test/architecture.layers.test.ts (so `npx vitest run` enforces them) or by hand:
 * `npx depcruise src --config .dependency-cruiser.cjs`.
 *
 * Type-only imports count (tsPreCompilationDeps): a layer that names another layer's types
 * depends on it as much as one that calls it.
 */

/** npm packages that are HTTP or OpenAPI machinery (resolved through node_modules, a symlink or not). */
const HTTP_PACKAGES = '(^|/)node_modules/(hono|@hono/[^/]+|zod-openapi|@asteasolutions/zod-to-openapi)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment: 'src/domain/ decides; it imports no transport, no I/O layer and no HTTP/OpenAPI package',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: ['^src/(http|services|db|events|reads)/', HTTP_PACKAGES] },
    },
    {
      name: 'rules-and-events-know-no-http',
      comment: 'src/rules/ and src/events/ are below the routes: no src/http/, no Hono or OpenAPI package',
      severity: 'error',
      from: { path: '^src/(rules|events)/' },
      to: { path: ['^src/http/', HTTP_PACKAGES] },
    },
    {
      name: 'db-is-below-the-verbs',
      comment: 'src/db/ is used by the verbs and reads, never the other way round',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/(http|services|reads)/' },
    },
    {
      name: 'contract-is-plain-zod',
      comment: 'src/contract/ holds the exchanged shapes: plain zod, no other layer, no HTTP/OpenAPI package',
      severity: 'error',
      from: { path: '^src/contract/' },
      to: { path: ['^src/(?!contract/)', HTTP_PACKAGES] },
    },
    {
      name: 'domain-uses-only-the-rules-policy',
      comment: 'src/domain/ may apply the channel rules through the pure policy module (rules/policy.ts), never the rules stores',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { path: '^src/rules/', pathNot: '^src/rules/policy\\.ts$' },
    },
    {
      name: 'rules-know-no-services',
      comment: 'src/rules/ (policy and its stores) is below the verbs: it imports nothing from src/services/',
      severity: 'error',
      from: { path: '^src/rules/' },
      to: { path: '^src/services/' },
    },
    {
      name: 'events-know-no-services',
      comment: 'src/events/ (outbox writer, relay, feed, availability) is below the verbs: it imports nothing from src/services/',
      severity: 'error',
      from: { path: '^src/events/' },
      to: { path: '^src/services/' },
    },
    {
      name: 'reads-know-no-services',
      comment: 'src/reads/ (the batched one-statement reads and their answers) is below the verbs: it imports nothing from src/services/',
      severity: 'error',
      from: { path: '^src/reads/' },
      to: { path: '^src/services/' },
    },
    {
      name: 'reservation-path-stands-alone',
      comment:
        'src/services/reservations/ (allocation, the verbs on a reservation, expiry) takes nothing from the other service groups (supply/, stock/, catalog/): they build on the reservation path, never the other way round; the shared writers at the top of services/ (idempotency.ts, ledger.ts) serve every group',
      severity: 'error',
      from: { path: '^src/services/reservations/' },
      to: { path: '^src/services/(?!reservations/|idempotency\\.ts$|ledger\\.ts$)' },
    },
    {
      name: 'no-cycles',
      comment: 'no import cycles in src/ (type-only imports included)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: { path: ['^src/', 'node_modules'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    moduleSystems: ['es6', 'cjs'],
  },
};

/** bench/profile-summary.ts: shares by place and function, inclusive shares, and the load window. */
import { expect, it } from 'vitest';
import { placeOf, summarise } from '../bench/profile-summary.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });

it('attributes self time to places and functions, and inclusive time to callers, inside the window only', () => {
  // root → handler (src) → query (postgres.js) ; root → (idle)
  const profile = {
    startTime: 0,
    endTime: 10_000_000,
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 4] },
      { id: 2, callFrame: frame('handler', 'file:///work/main/src/http/routes/reservations.ts'), children: [3] },
      { id: 3, callFrame: frame('query', 'file:///work/main/node_modules/postgres/src/query.js') },
      { id: 4, callFrame: frame('(idle)') },
    ],
    // 1 s start-up in handler (outside a 9:0 window), then 3 s handler, 3 s query, 3 s idle
    samples: [2, 2, 3, 4],
    timeDeltas: [1_000_000, 3_000_000, 3_000_000, 3_000_000],
  };
  const all = summarise(profile, ['handler']);
  expect(all.totalMs).toBe(10_000);
  expect(all.places).toEqual([
    { what: 'src/http/routes/reservations.ts', pct: 40 },
    { what: 'pkg postgres', pct: 30 },
    { what: '(idle)', pct: 30 },
  ]);
  expect(all.inclusive).toEqual([{ what: 'handler', pct: 70 }]);
  const load = summarise(profile, ['handler'], { fromS: 9, toS: 0 });
  expect(load.totalMs).toBe(9_000);
  expect(load.inclusive).toEqual([{ what: 'handler', pct: 66.7 }]);
  expect(load.functions[0]).toEqual({ what: 'handler src/http/routes/reservations.ts:1', pct: 33.3 });
  expect(placeOf(frame('x', 'file:///a/node_modules/@hono/node-server/dist/index.js'))).toBe('pkg @hono/node-server');
  expect(placeOf(frame('(garbage collector)'))).toBe('(gc)');
  expect(placeOf(frame('x', 'node:internal/streams/writable'))).toBe('node internal');
});

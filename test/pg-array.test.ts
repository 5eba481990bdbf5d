/**
 * Invariant proven: the batch writer's array literals (pgArray) carry every value through
 * Postgres unchanged — quotes, backslashes, commas, braces, NULL-looking strings, unicode — so a
 * caller-supplied value can never break out of its element or shift columns. Checked against real
 * Postgres and embedded PGlite (the zero-configuration mode) with fast-check.
 */
import { PGlite } from '@electric-sql/pglite';
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pgArray } from '../src/db/pg-array.js';
import { createTestDatabase } from './helpers/db.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: postgres.Sql;
let lite: PGlite;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  lite = await PGlite.create();
});
afterAll(async () => {
  await sql?.end();
  await lite?.close();
  await db?.drop();
});

const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('NULL', 'null', '', '"', '\\', '{', '}', ',', ' a ', '{"x":1}', "'; drop table x; --"));
const values = fc.array(fc.option(text.filter((s) => !s.includes('\u0000')), { nil: null }), { maxLength: 10 });

it('text arrays round-trip through Postgres and PGlite', async () => {
  await fc.assert(
    fc.asyncProperty(values, async (vs) => {
      const lit = pgArray(vs);
      const pg = await sql.unsafe('select v from unnest($1::text[]) with ordinality as t(v, n) order by n', [lit]);
      expect(pg.map((r) => r.v)).toEqual(vs);
      const pl = await lite.query<{ v: string | null }>('select v from unnest($1::text[]) with ordinality as t(v, n) order by n', [lit]);
      expect(pl.rows.map((r) => r.v)).toEqual(vs);
    }),
    { numRuns: 150 },
  );
});

it('jsonb and int arrays round-trip', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }), fc.array(fc.integer(), { maxLength: 5 }), async (docs, ints) => {
      const j = await sql.unsafe('select v from unnest($1::jsonb[]) with ordinality as t(v, n) order by n', [pgArray(docs.map((d) => JSON.stringify(d)))]);
      expect(j.map((r) => r.v)).toEqual(docs.map((d) => JSON.parse(JSON.stringify(d)))); // jsonb: same value, keys may be reordered
      const n = await sql.unsafe('select v from unnest($1::int[]) with ordinality as t(v, n) order by n', [pgArray(ints)]);
      expect(n.map((r) => r.v)).toEqual(ints);
    }),
    { numRuns: 60 },
  );
});

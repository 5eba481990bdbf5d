/** A digest of every row of every table (public and drizzle schemas): equal digests, equal data. */
import type postgres from 'postgres';

export async function digestAll(sql: postgres.Sql): Promise<string> {
  const tables = await sql<{ schema: string; name: string }[]>`
    select table_schema as schema, table_name as name from information_schema.tables
    where table_schema in ('public', 'drizzle') and table_type = 'BASE TABLE' order by 1, 2`;
  const parts: string[] = [];
  for (const t of tables) {
    const q = (id: string) => `"${id.replaceAll('"', '""')}"`;
    const [r] = await sql.unsafe(`select count(*)::text as n, md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as h from ${q(t.schema)}.${q(t.name)} t`);
    parts.push(`${t.schema}.${t.name}:${r!.n}:${r!.h}`);
  }
  return parts.join('\n');
}

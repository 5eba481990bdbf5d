/**
 * Row types of raw SQL results, derived from the drizzle schema (./schema.ts) so that a column is
 * typed in one place. Raw statements (`query<T>(exec, sql\`…\`)`) answer with the database's column
 * names, not the schema's property names, and without drizzle's value mapping: a timestamp arrives
 * as a Date or as its text (the driver decides), an int8 as text. `SqlRow<typeof table>` is the
 * table's `$inferSelect` under those names and with those values; `Pick` the columns a statement
 * selects.
 */
import type { Column, Table } from 'drizzle-orm';

type Columns<T extends Table> = T['_']['columns'];

/** The value of a column as a raw statement returns it. */
type RawValue<C extends Column, V> = C['_']['dataType'] extends 'date'
  ? Exclude<V, Date> | Date | string
  : C['_']['columnType'] extends 'PgBigSerial53' | 'PgBigInt53'
    ? Exclude<V, number> | string
    : V;

/** A row of `T` as `select *` returns it from a raw statement (column names as in the database). */
export type SqlRow<T extends Table> = {
  [K in keyof Columns<T> & string as Columns<T>[K]['_']['name']]: RawValue<Columns<T>[K], T['$inferSelect'][K]>;
};

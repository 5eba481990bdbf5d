/** The one SQL list idiom of the service: a whole column travels as one bound array parameter, expanded by unnest(...). */

/**
 * A Postgres array literal ('{"a","b",NULL}') for one text parameter: a whole column of the batch
 * travels as ONE bound parameter and is expanded by unnest(...) on the server. Every element is
 * quoted and escaped, so no value can break out of the literal; the server parses it with the
 * element type's input function (cheaper than building and unpacking jsonb for every row).
 */
const NEEDS_ESCAPE = /[\\"]/;
const ESCAPE_ALL = /[\\"]/g;

export function pgArray(values: readonly (string | number | null | undefined)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'number') out += String(v);
    else out += '"' + (NEEDS_ESCAPE.test(v) ? v.replace(ESCAPE_ALL, '\\$&') : v) + '"';
  }
  return out + '}';
}

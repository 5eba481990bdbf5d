/**
 * SqlRow (src/db/rows.ts) types raw rows from the drizzle schema: database column names, a
 * timestamp as Date or text, an int8 as text, enums and nullability as the schema says. Checked by
 * tsc (`npx tsc --noEmit` covers test/): each @ts-expect-error must stay an error.
 */
import { expectTypeOf, it } from 'vitest';
import type { SqlRow } from '../../src/db/rows.js';
import type { outbox, reservations, supply } from '../../src/db/schema.js';

it('SqlRow: column names, raw values, enums and nulls from the schema', () => {
  expectTypeOf<keyof SqlRow<typeof outbox>>().toEqualTypeOf<'id' | 'event_id' | 'type' | 'subject' | 'data' | 'txid' | 'created_at'>();
  expectTypeOf<SqlRow<typeof outbox>['id']>().toEqualTypeOf<string>();
  expectTypeOf<SqlRow<typeof outbox>['created_at']>().toEqualTypeOf<Date | string>();
  expectTypeOf<SqlRow<typeof supply>['status']>().toEqualTypeOf<'open' | 'received' | 'cancelled'>();
  expectTypeOf<SqlRow<typeof supply>['reference']>().toEqualTypeOf<string | null>();
  expectTypeOf<SqlRow<typeof reservations>['lines'][number]['kit_sku']>().toEqualTypeOf<string | null>();
  // @ts-expect-error the schema's property name is not a raw column name
  expectTypeOf<SqlRow<typeof supply>['receivedQty']>();
});

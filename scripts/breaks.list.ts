/**
 * Deliberate breaks (`npm run test:breaks`, runner: scripts/breaks.ts). Each entry is a change to
 * the code that must make the NAMED test(s) fail. The runner applies it to a scratch copy of the
 * project and runs only the named tests. A break whose `find` text is not in the file exactly
 * `count` times (default 1) no longer applies: the runner fails, so this list is updated whenever
 * the code it breaks moves.
 *
 * Keep entries small and literal: `find` is a plain string (not a pattern), `replace` its
 * replacement. A break must still compile and load (a syntax error would "fail" any test).
 */

export interface Edit {
  file: string;
  find: string;
  replace: string;
  /** how many times `find` must occur (all are replaced); default 1 */
  count?: number;
}

export interface NamedTest {
  file: string;
  /** the test's own title (the `it(...)` name, without the describe prefix) */
  name: string;
}

export interface Break {
  id: string;
  /** what the change breaks, in the words of the invariant */
  what: string;
  edits: Edit[];
  /** every named test must fail with the break applied */
  tests: NamedTest[];
}

const RESERVE = 'src/services/reservations/reserve.ts';
const RESERVE_STATEMENT = 'src/services/reservations/reserve-statement.ts';
const GUARDED = 'src/services/reservations/reserve-guarded.ts';
const ALLOCATE = 'src/domain/allocate.ts';
const RELAY = 'src/events/relay.ts';

export const BREAKS: Break[] = [
  {
    id: 'row-lock',
    what: 'reserve reads positions without FOR UPDATE (decides on rows it does not lock)',
    edits: [{ file: RESERVE, find: 'order by p.sku, p.location\n          for update of p', replace: 'order by p.sku, p.location' }],
    tests: [{ file: 'test/reserve.concurrency.test.ts', name: '500 concurrent single-request transactions for 100 units allocate exactly 100' }],
  },
  {
    id: 'row-lock-and-check',
    what: 'no row lock AND no CHECK: nothing but the (stale) decision stands between racing transactions and an oversell',
    edits: [
      { file: RESERVE, find: 'order by p.sku, p.location\n          for update of p', replace: 'order by p.sku, p.location' },
      {
        file: 'drizzle/0000_init.sql',
        find: ',\n\tCONSTRAINT "positions_no_oversell" CHECK ("positions"."reserved" + "positions"."quality_hold" <= "positions"."on_hand")',
        replace: '',
      },
    ],
    tests: [{ file: 'test/reserve.concurrency.test.ts', name: '500 concurrent single-request transactions for 100 units allocate exactly 100' }],
  },
  {
    id: 'decision-stock-guard',
    what: 'the decision ignores availability: a line takes its whole qty from the first candidate location',
    edits: [{ file: ALLOCATE, find: 'const q = Math.min(c.avail, toTake);', replace: 'const q = toTake;' }],
    tests: [{ file: 'test/allocate.test.ts', name: 'never oversells any position: exactly what a first-come model grants, every unit accounted for (property)' }],
  },
  {
    id: 'check-constraint',
    what: 'the positions_no_oversell CHECK is gone from the schema (the database no longer refuses an oversell)',
    edits: [
      {
        file: 'drizzle/0000_init.sql',
        find: ',\n\tCONSTRAINT "positions_no_oversell" CHECK ("positions"."reserved" + "positions"."quality_hold" <= "positions"."on_hand")',
        replace: '',
      },
    ],
    tests: [{ file: 'test/guards.db.test.ts', name: 'the database itself refuses an oversell (CHECK positions_no_oversell), whatever the code decided' }],
  },
  {
    id: 'idempotency-reserve',
    what: 'reserve skips the stored-key lookup (a retried request is decided afresh)',
    edits: [{ file: RESERVE, find: 'const fresh = answerStored(stored, cmds, cmds.map((_, i) => i), results);', replace: 'const fresh = cmds.map((_, i) => i);' }],
    tests: [{ file: 'test/idempotency.in-flight.test.ts', name: 'a retry decided under locks (no lane prediction: a restarted or another instance) replays the stored answer' }],
  },
  {
    id: 'idempotency-verbs',
    what: 'release/commit/extend skip the stored-key lookup (runIdempotent never replays)',
    edits: [{ file: 'src/services/idempotency.ts', find: '      if (replay) {\n        await replayBarrier(tx);\n        return replay;\n      }\n      const value', replace: '      const value' }],
    tests: [{ file: 'test/reservation.races.test.ts', name: 'the same key with a different body is refused with 422 and writes nothing' }],
  },
  {
    id: 'idempotency-soldout-path',
    what: 'a request refused from the sold-out memory is not checked against stored keys (a retry of an accepted request gets 409)',
    edits: [{ file: 'src/services/reservations/allocator.ts', find: 'if (check.replay) {', replace: 'if (check.replay && false) {' }],
    tests: [{ file: 'test/flash-sale.test.ts', name: 'sold-out memory never grants, and a retry of an accepted request still replays its 201' }],
  },
  {
    id: 'ack-before-commit',
    what: 'reserveBatch answers as soon as its statements ran, before COMMIT (a failed commit is still acknowledged)',
    edits: [
      {
        file: RESERVE,
        find: 'return inTransaction(db, (tx) => reserveInTx(tx, rules, cmds, clock), retries);',
        replace:
          'return new Promise<BatchReport>((resolve, reject) => {\n    inTransaction(db, async (tx) => { const r = await reserveInTx(tx, rules, cmds, clock); resolve(r); return r; }, retries).catch(reject);\n  });',
      },
    ],
    tests: [{ file: 'test/guards.db.test.ts', name: 'a reservation whose COMMIT fails is never acknowledged and leaves nothing' }],
  },
  {
    id: 'ack-before-commit-verbs',
    what: 'idempotent verbs (release/commit/extend) answer before COMMIT',
    edits: [
      {
        file: 'src/services/idempotency.ts',
        find: '): Promise<Answered<T>> {\n  return inTransaction(\n    db,\n    async (tx) => {',
        replace:
          '): Promise<Answered<T>> {\n  let ack!: (r: Answered<T>) => void;\n  const early = new Promise<Answered<T>>((r) => (ack = r));\n  const done = inTransaction(\n    db,\n    async (tx) => {',
      },
      {
        file: 'src/services/idempotency.ts',
        find: "      if (inserted.length !== 1) throw new RetryTransaction('idempotency key taken concurrently');\n      return { value, replayed: false };\n    },\n    retries,\n  );",
        replace:
          "      if (inserted.length !== 1) throw new RetryTransaction('idempotency key taken concurrently');\n      ack({ value, replayed: false });\n      return { value, replayed: false };\n    },\n    retries,\n  );\n  return Promise.race([early, done]);",
      },
    ],
    tests: [{ file: 'test/guards.db.test.ts', name: 'a release whose COMMIT fails is never acknowledged and leaves the reservation held' }],
  },
  {
    id: 'outbox-reserve',
    what: 'reserve writes no outbox row (reservation.created is lost)',
    edits: [{ file: RESERVE_STATEMENT, find: '      o as (${outboxInsert(this.events, this.now)} returning 1)', replace: '      o as (${outboxInsert([], this.now)} returning 1)' }],
    tests: [{ file: 'test/events.outbox.test.ts', name: 'concurrent reservations: exactly one reservation.created per accepted reservation, one sold_out' }],
  },
  {
    id: 'outbox-guarded',
    what: "a hot lane's guarded statement writes no reservation.created row",
    edits: [{ file: 'src/services/reservations/reserve-guarded.ts', find: 'reservationCreatedRows(sql`select r.id, ts.at from r, ts`)', replace: 'reservationCreatedRows(sql`select r.id, ts.at from r, ts where false`)' }],
    tests: [{ file: 'test/reserve.guarded.test.ts', name: 'a lane with a prediction writes one guarded statement: the 201, GET, the replay and the event all carry the same answer' }],
  },
  {
    id: 'outbox-verbs',
    what: 'release/commit/extend/expiry/counts write no outbox row (emit does nothing)',
    edits: [{ file: 'src/events/outbox.ts', find: 'if (events.length === 0) return;', replace: 'if (events.length >= 0) return;' }],
    tests: [{ file: 'test/events.outbox.test.ts', name: 'released (partial and full), committed, extended, expired' }],
  },
  {
    id: 'relay-xadd-twice',
    what: 'the relay appends every event twice (auto ids instead of the row\'s stream id, so Redis cannot refuse the repeat)',
    edits: [
      {
        file: 'src/events/stream.ts',
        find: "  local r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'id',",
        replace:
          "  redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[i + 1], 'type', ARGV[i + 2], 'subject', ARGV[i + 3], 'event', ARGV[i + 4])\n  local r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id',",
      },
    ],
    tests: [
      { file: 'test/events.relay-once.test.ts', name: 'each pass publishes the settled rows once and marks them; the next pass publishes nothing' },
      { file: 'test/events.relay.test.ts', name: 'one relay publishing during traffic: every event once, stable ids, in (txid, id) order' },
    ],
  },
  {
    id: 'relay-no-mark',
    what: 'the relay never moves its cursor (every pass publishes the same rows again)',
    edits: [{ file: RELAY, find: '        if (ok > 0) {\n          // the prefix in the stream is published', replace: '        if (ok < 0) {\n          // the prefix in the stream is published' }],
    tests: [{ file: 'test/events.relay-once.test.ts', name: 'each pass publishes the settled rows once and marks them; the next pass publishes nothing' }],
  },
  {
    id: 'relay-no-leader-lock',
    what: 'relays do not exclude each other (no advisory-lock leadership, no cursor row lock): two relays publish the same rows',
    // both: since the relay locks its cursor row first (a pass on a standby must fail before it appends),
    // that row lock alone also serialises two relays, so removing only the advisory lock changes nothing
    edits: [
      { file: RELAY, find: 'if (!lock?.ok) return { leader: false, published: 0 };', replace: '' },
      { file: RELAY, find: '        await query(tx, sql`select 1 from relay_cursor where id = 1 for update`);\n', replace: '' },
    ],
    tests: [{ file: 'test/events.relay.test.ts', name: 'two relays at once on one database: each event exactly once, in order' }],
  },
  {
    id: 'relay-xmin-horizon',
    what: 'the relay publishes rows of transactions newer than one still open (commit order lost)',
    edits: [{ file: RELAY, find: '      where ${aboveCursor} and o.txid < pg_snapshot_xmin(pg_current_snapshot())', replace: '      where ${aboveCursor}' }],
    tests: [{ file: 'test/events.relay.test.ts', name: 'the relay holds back events of transactions newer than one still open, then publishes both in order' }],
  },
  {
    id: 'protection-floor',
    what: 'a lower tier may take the units protected for higher tiers',
    edits: [{ file: ALLOCATE, find: 'Math.min(physical, totalAvail - protectedUnits, capRoom)', replace: 'Math.min(physical, totalAvail, capRoom)' }],
    tests: [
      { file: 'test/rules.flash-sale.test.ts', name: 'low tiers answered before the first web request is even sent: web still gets its 40 protected units' },
      { file: 'test/unit/decision.model.test.ts', name: 'decideBatch agrees with the model: every outcome of a random batch, to the unit, and the state after it' },
    ],
  },
  {
    id: 'tier-order',
    what: 'a batch is served in arrival order only (higher tiers no longer first)',
    edits: [{ file: ALLOCATE, find: '.sort((a, b) => a.tier - b.tier || a.i - b.i)', replace: '.sort((a, b) => a.i - b.i)' }],
    tests: [{ file: 'test/unit/decision.model.test.ts', name: 'decideBatch agrees with the model: every outcome of a random batch, to the unit, and the state after it' }],
  },
  {
    id: 'channel-cap-held',
    what: 'a channel cap ignores what the channel already holds',
    edits: [{ file: ALLOCATE, find: 'const capRoom = Math.max(0, policy.cap(totalOnHand) - held);', replace: 'const capRoom = Math.max(0, policy.cap(totalOnHand));' }],
    tests: [{ file: 'test/reservation.races.test.ts', name: 'concurrent backorders from one capped channel never exceed its cap' }],
  },
  {
    id: 'channel-cap-share',
    what: 'maxShare is ignored (only maxUnits caps a channel)',
    edits: [{ file: 'src/rules/policy.ts', find: 'if (maxShare !== undefined) cap = Math.min(cap, Math.floor(maxShare * totalOnHand));', replace: '' }],
    tests: [
      { file: 'test/unit/policy.test.ts', name: 'policyFor: caps and locations: maxUnits, floor(maxShare × onHand), or the smaller of both' },
      { file: 'test/unit/decision.model.test.ts', name: 'decideBatch agrees with the model: every outcome of a random batch, to the unit, and the state after it' },
    ],
  },
  {
    id: 'expiry-not-released',
    what: 'the expiry sweep marks holds expired but gives nothing back',
    edits: [{ file: 'src/services/reservations/expiry.ts', find: '.filter((a) => a.qty > 0)', replace: '.filter((a) => a.qty < 0)' }],
    tests: [{ file: 'test/events.outbox.test.ts', name: 'released (partial and full), committed, extended, expired' }],
  },
  {
    id: 'expiry-not-due',
    what: 'the expiry sweep takes holds that are not yet due',
    edits: [{ file: 'src/services/reservations/expiry.ts', find: "status = 'held' and expires_at <= ${now}", replace: "status = 'held' and expires_at is not null" }],
    tests: [{ file: 'test/reservation.model.test.ts', name: 'random sequences keep every invariant and agree with the model' }],
  },
  {
    id: 'supply-lock',
    what: 'open supply is read without FOR UPDATE (racing backorders over-allocate a PO)',
    edits: [{ file: RESERVE, find: 'order by s.sku, s.expected_at, s.id\n              for update of s', replace: 'order by s.sku, s.expected_at, s.id' }],
    tests: [{ file: 'test/supply.concurrency.test.ts', name: '300 racing one-unit backorders for a PO of 100 allocate exactly 100' }],
  },
  {
    id: 'guarded-position',
    what: 'the guarded batch updates a position without checking it keeps available >= 0 (a stale prediction promises past safety stock)',
    edits: [{ file: GUARDED, find: 'and t.on_hand - t.reserved - t.quality_hold - t.safety_stock - w.delta >= 0', replace: 'and true' }],
    tests: [{ file: 'test/reserve.guarded.test.ts', name: 'a prediction made stale by another instance (safety stock raised) fails its guard: re-decided under locks, nothing promised past safety stock' }],
  },
  {
    id: 'guarded-floor',
    what: 'the guarded batch ignores the protection floor its decision used (a stale onHand lets a low tier take protected units)',
    edits: [{ file: GUARDED, find: 'or (q.guarded and (g.on_hand <> q.on_hand or g.avail < q.floor)))', replace: 'or false)' }],
    tests: [{ file: 'test/reserve.guarded.test.ts', name: 'a protection floor computed from a stale onHand fails its guard' }],
  },
  {
    id: 'reads-one-statement',
    what: 'a read costs a second statement (round trips per read: 1)',
    edits: [{ file: 'src/reads/batcher.ts', find: 'const snapshot = await readSnapshot(', replace: 'await readSnapshot(this.opts.exec, [], 0, []);\n      const snapshot = await readSnapshot(' }],
    tests: [
      { file: 'test/reads.round-trips.test.ts', name: 'GET /v1/atp of one SKU for a channel is one statement' },
      { file: 'test/reads.round-trips.test.ts', name: 'POST /v1/promise is one statement' },
    ],
  },
  {
    id: 'reads-join-in-flight',
    what: 'reads that arrive while a read statement is in flight are answered from it (they miss writes acknowledged before they arrived)',
    edits: [{ file: 'src/reads/batcher.ts', find: '      for (const w of batch) w.resolve({ snapshot, rules });', replace: '      for (const w of [...batch, ...this.waiting.splice(0)]) w.resolve({ snapshot, rules });' }],
    tests: [{ file: 'test/reads.batching.test.ts', name: 'reads that arrive while a statement is in flight share the next statement, and see what was written before they arrived' }],
  },
  {
    id: 'reads-queue-unbounded',
    what: 'the read queue has no bound (reads queue for seconds instead of 429)',
    edits: [{ file: 'src/reads/batcher.ts', find: 'if (this.waiting.length >= this.opts.maxQueue) {', replace: 'if (this.waiting.length >= this.opts.maxQueue && this.shed < 0) {' }],
    tests: [{ file: 'test/reads.batching.test.ts', name: 'the read queue is bounded: past it a read is refused at once with 429 and Retry-After' }],
  },
  {
    id: 'reads-rate-limit',
    what: 'GET /v1/atp takes no token from the per-key rate limit',
    edits: [{ file: 'src/reads/reader.ts', find: '    this.limit.take(caller);\n    const { snapshot, rules } = await this.batcher.read({ skus: q.skus });', replace: '    const { snapshot, rules } = await this.batcher.read({ skus: q.skus });' }],
    tests: [{ file: 'test/reads.batching.test.ts', name: 'per-key rate limit: 429 rate-limited naming the limit for the key over it, not for others; refills with time' }],
  },
  {
    id: 'reads-rules-stale',
    what: "reads apply the instance's rules in memory, not the newer version their statement saw (another instance's PUT is missed until the poll)",
    edits: [{ file: 'src/reads/rules.ts', find: '    if (!row || row.version <= mine.version) return mine;', replace: '    if (row || !row) return mine;' }],
    tests: [{ file: 'test/reads.instances.test.ts', name: 'rules put through A are applied by the next read through B (its poll would take a minute)' }],
  },
  {
    id: 'reads-soldout-unconfirmed',
    what: 'the sold-out memory refuses without the shared read forgetting SKUs restocked elsewhere',
    edits: [{ file: 'src/reads/reader.ts', find: 'for (const sku of suspects) if (stocked(sku)) memory.forget(sku);', replace: 'for (const sku of suspects) if (stocked(sku) && sku === "") memory.forget(sku);' }],
    tests: [
      { file: 'test/reads.instances.test.ts', name: "B's sold-out memory never refuses a SKU that A restocked" },
      { file: 'test/flash-sale.test.ts', name: 'a restock through another instance is seen by the next request, before the memory TTL has passed' },
    ],
  },
  {
    id: 'late-replay-verbs',
    what: 'a retry that waited for its first attempt answers a refusal caused by that attempt (a receipt: 409 the PO is received) instead of replaying it',
    edits: [{ file: 'src/services/idempotency.ts', find: '      const late = storedFor<T>(await findStored(db, [key]), key);', replace: '      const late = undefined as Answered<T> | undefined;' }],
    tests: [{ file: 'test/idempotency.in-flight.test.ts', name: 'a receipt retried while its first attempt runs replays the first answer (not 409: the PO is received)' }],
  },
  {
    id: 'late-replay-reserve',
    what: 'a reservation retried while its first attempt runs in another batch is refused for the unit that attempt took',
    edits: [{ file: RESERVE, find: '  const refused = fresh.filter((i) => !results[i]!.ok);', replace: '  const refused: number[] = [];' }],
    tests: [{ file: 'test/idempotency.in-flight.test.ts', name: 'a reservation retried while its first attempt runs (another batch, e.g. another instance) replays it, not 409 for the unit it took' }],
  },
  {
    id: 'guarded-cap',
    what: "a guarded batch trusts the lane's predicted channel hold: another instance's reservations push the channel past its cap",
    edits: [{ file: GUARDED, find: '              + (select count(*)::int from hc where hc.reserved > hc.cap) as n)', replace: '              + (select count(*)::int from hc where hc.reserved < 0) as n)' }],
    tests: [{ file: 'test/reserve.guarded.test.ts', name: 'a capped channel decides on the hold its lane last saw; another instance filling the cap meanwhile fails the guard, and the cap holds' }],
  },
  {
    id: 'rules-adopt-unlocked',
    what: "the upgrade's adoption of Redis rules checks for an empty table without the lock: racing the first PUT, the older Redis rules outrank it",
    edits: [{ file: 'src/rules/versions.ts', find: '      await query(tx, sql`lock table rules in exclusive mode`);\n', replace: '' }],
    tests: [{ file: 'test/rules.durable.test.ts', name: "upgrade racing the first PUT: the adopted Redis rules never outrank the operator's PUT (both wait for one lock, then run at once)" }],
  },
  {
    id: 'lock-takeover-blind',
    what: 'a takeover removes whatever lock file is there, not only the stale one it read (a live lock another starter just took is removed: two processes on one data directory)',
    edits: [{ file: 'src/db/data-dir-lock.ts', find: '    if (now?.pid === owner.pid && now.startedAt === owner.startedAt) unlinkSync(file);', replace: '    if (now) unlinkSync(file);' }],
    tests: [{ file: 'test/embedded.lock.test.ts', name: 'a takeover removes only the stale lock it read, and only under the takeover mutex' }],
  },
  {
    id: 'relay-cursor-joined',
    what: "the relay's pass joins its cursor (as before the fix): the scan starts at the outbox's first row and every published row still kept is read and filtered out on every pass",
    edits: [
      {
        file: RELAY,
        find: '      from outbox_event o\n      where ${aboveCursor} and o.txid < pg_snapshot_xmin(pg_current_snapshot())',
        replace: '      from relay_cursor c join outbox_event o on (o.txid, o.id) > (c.txid, c.outbox_id)\n      where c.id = 1 and o.txid < pg_snapshot_xmin(pg_current_snapshot())',
      },
    ],
    tests: [{ file: 'test/events.relay-cost.test.ts', name: 'a relay pass reads only the rows above its cursor' }],
  },
  {
    id: 'newer-schema-accepted',
    what: 'an old instance starts on a database a newer release migrated (and writes rows the new schema does not expect)',
    edits: [{ file: 'src/db/migrate.ts', find: '  if (applied > known.when)\n', replace: '  if (applied > known.when && applied < 0)\n' }],
    tests: [{ file: 'test/migration.newer-schema.test.ts', name: 'starts on the schema it knows, and refuses one a newer release migrated' }],
  },
  {
    id: 'shared-batch-fails-all',
    what: "a shared batch of cold lanes that fails (one SKU's lock timeout) fails every request in it, not only that SKU's",
    edits: [
      {
        file: 'src/services/reservations/batcher.ts',
        find: '          for (const part of parts) settle.push(await this.execPart(part));',
        replace: '          for (const part of parts) settle.push(() => part.batch.forEach((b) => b.reject(new Error(\'the shared batch failed\'))));',
      },
    ],
    tests: [
      { file: 'test/reserve.cold-lanes.test.ts', name: "one SKU's lock timeout in a shared batch fails only that SKU's requests" },
      { file: 'test/batcher.test.ts', name: "a shared batch that fails is re-run lane by lane: one lane's failure is its own answer only" },
    ],
  },
  {
    id: 'cold-lanes-alone',
    what: 'cold lanes waiting for a slot never share a batch: one transaction per SKU set',
    edits: [{ file: 'src/services/reservations/batcher.ts', find: '    if (merge <= 1 || size > small) return out;', replace: '    if (merge <= 1 || size > small || merge > 0) return out;' }],
    tests: [
      { file: 'test/reserve.cold-lanes.test.ts', name: 'reservations for five cold SKUs that wait for the slot together share one transaction, each with its own answer' },
      { file: 'test/batcher.test.ts', name: 'cold lanes waiting for a slot share one batch; a hot lane keeps its own' },
    ],
  },
  {
    id: 'guarded-201-unstamped',
    what: 'the 201 of a guarded batch, sent from the stored answer text, keeps its updatedAt placeholder: the answer differs from the one stored and replayed',
    edits: [{ file: 'src/services/reservations/reserve-guarded.ts', find: '.replace(`"updatedAt":"${STAMP}"`, `"updatedAt":"${at}"`);', replace: '.replace(`"updatedAt":"${STAMP}"`, `"updatedAt":"${STAMP}"`);' }],
    tests: [{ file: 'test/reserve.guarded.test.ts', name: 'a lane with a prediction writes one guarded statement: the 201, GET, the replay and the event all carry the same answer' }],
  },
  {
    id: 'ledger-writes-zero',
    what: 'the one ledger writer books every movement of onHand as 0: Σ ledger no longer equals onHand',
    edits: [{ file: 'src/services/ledger.ts', find: 'select d.sku, d.location, d.delta, d.reason', replace: 'select d.sku, d.location, 0, d.reason' }],
    tests: [
      { file: 'test/stock-control.test.ts', name: 'is ok on a healthy database and names each breach when a table is tampered with' },
      { file: 'test/reserve.concurrency.test.ts', name: '500 concurrent single-request transactions for 100 units allocate exactly 100' },
    ],
  },
  {
    id: 'request-id-not-on-socket',
    what: 'X-Request-Id is no longer set on Node’s response: answers over a socket go out without it (in-process answers keep it)',
    edits: [{ file: 'src/http/request-id.ts', find: '      out.setHeader(REQUEST_ID_HEADER, id);\n', replace: '' }],
    tests: [{ file: 'test/http.defects.test.ts', name: 'over a real socket (the header is set on Node’s response, not on the Response): every layer’s answer carries it, and a 201 its Location and the stored bytes' }],
  },
  {
    id: 'response-header-dropped-on-socket',
    what: 'a header a route sets (Location, Idempotent-Replayed, ETag) is dropped when the request came over a socket',
    edits: [{ file: 'src/http/headers.ts', find: '    if (!out.headersSent) out.setHeader(name, value);', replace: '    if (out.headersSent) out.setHeader(name, value);' }],
    tests: [{ file: 'test/http.defects.test.ts', name: 'over a real socket (the header is set on Node’s response, not on the Response): every layer’s answer carries it, and a 201 its Location and the stored bytes' }],
  },
  {
    id: 'standby-kept',
    what: 'a pool connection that answers 25006 (left on a hot standby by postgres.js) is kept: every later write on it fails with 503 database-read-only until idle_timeout',
    edits: [{ file: 'src/db/client.ts', find: '        watchReadOnly(client, readOnly);\n', replace: '' }],
    tests: [
      { file: 'test/db.standby-landing.test.ts', name: 'autocommit writes: the connection left on the standby answers 25006 once, then the pools are on the primary (the read pool too)' },
      { file: 'test/db.standby-landing.test.ts', name: 'transactions (the allocator, the sweeper, the outbox relay): one 503 database-read-only, then the retry commits on the primary' },
    ],
  },
  {
    id: 'standby-reads-kept',
    what: 'a 25006 replaces the write pool only: the read pool stays on the standby it landed on (reads miss the writes made on the primary)',
    edits: [
      { file: 'src/db/client.ts', find: '      readStatement: (text, params) => pools.current.readClient.unsafe(', replace: '      readStatement: (text, params) => firstReadClient.unsafe(' },
      { file: 'src/db/client.ts', find: '    return {\n      db: currentDb(', replace: '    const firstReadClient = pools.current.readClient;\n    return {\n      db: currentDb(' },
      { file: 'src/db/client.ts', find: 'readClient.end({ timeout: 5 })]);', replace: 'readClient === firstReadClient ? undefined : readClient.end({ timeout: 5 })]);' },
      { file: 'src/db/client.ts', find: '      close: () => pools.close(),\n    };\n  }', replace: '      close: () => Promise.all([pools.close(), firstReadClient.end({ timeout: 5 })]).then(() => {}),\n    };\n  }' },
    ],
    tests: [{ file: 'test/db.standby-landing.test.ts', name: 'autocommit writes: the connection left on the standby answers 25006 once, then the pools are on the primary (the read pool too)' }],
  },
  {
    id: 'relay-sleeps-through-reconnect',
    what: "the relay's loop is not woken when Redis is back: the backlog waits out the retry back-off (up to 10 s after a failover)",
    edits: [{ file: RELAY, find: '      this.connects++;\n      this.wake?.();', replace: '      this.connects++;' }],
    tests: [{ file: 'test/events.relay.test.ts', name: 'Redis back after an outage: the relay publishes at once, not after its retry back-off' }],
  },
  {
    id: 'relay-publishes-from-standby',
    what: 'a relay pass on a hot standby (or a read-only node) appends the rows it read to the stream before its cursor update fails: events of a timeline the failover discards',
    edits: [{ file: RELAY, find: '        await query(tx, sql`select 1 from relay_cursor where id = 1 for update`);\n', replace: '' }],
    tests: [{ file: 'test/events.relay.test.ts', name: 'a relay whose connection is on a read-only node (a hot standby after a failover) appends nothing to the stream' }],
  },
  {
    id: 'relay-publishes-unconfirmed-commit',
    what: 'under synchronous replication a relay pass appends rows whose commits no synchronous standby has confirmed (visible on a primary whose commit wait was cut short): events a failover discards (run 9)',
    edits: [{ file: RELAY, find: '        await awaitSyncStandbys(tx, lock.sync, this.syncWait);\n', replace: '' }],
    tests: [
      {
        file: 'test/events.relay-sync-standby.test.ts',
        name: 'a row the synchronous standby has not confirmed is not appended; the relay publishes it once the standby has it',
      },
    ],
  },
];

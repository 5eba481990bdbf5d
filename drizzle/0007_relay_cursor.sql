-- The relay's position is one row: the (txid, id) of the last outbox row in the stream, in the order
-- rows are published. It replaces outbox.published_at, which cost every event an UPDATE (a new row
-- version and its index entries) and a partial index entry. Published rows were always a prefix of
-- (txid, id) order; the cursor starts at the last published row before the first unpublished one.
CREATE TABLE "relay_cursor" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"txid" xid8 DEFAULT '0' NOT NULL,
	"outbox_id" bigint DEFAULT 0 NOT NULL,
	"published_at" timestamp with time zone,
	CONSTRAINT "relay_cursor_one_row" CHECK ("relay_cursor"."id" = 1)
);
--> statement-breakpoint
INSERT INTO "relay_cursor" ("id", "txid", "outbox_id", "published_at")
SELECT 1, coalesce(p.txid, '0'::xid8), coalesce(p.id, 0), p.published_at
FROM (SELECT 1) one
LEFT JOIN LATERAL (
	SELECT o.txid, o.id, o.published_at FROM "outbox" o
	WHERE o.published_at IS NOT NULL
	  AND (NOT EXISTS (SELECT 1 FROM "outbox" u WHERE u.published_at IS NULL)
	       OR (o.txid, o.id) < (SELECT u.txid, u.id FROM "outbox" u WHERE u.published_at IS NULL ORDER BY u.txid, u.id LIMIT 1))
	ORDER BY o.txid DESC, o.id DESC LIMIT 1
) p ON true;
--> statement-breakpoint
DROP INDEX IF EXISTS "outbox_unpublished_idx";
--> statement-breakpoint
ALTER TABLE "outbox" DROP COLUMN "published_at";

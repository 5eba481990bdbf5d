-- The availability feed (src/events/availability.ts): one state row (how far the publisher has read
-- the outbox, the rules version, channels and kit definitions of its last pass, when it last emitted) and the
-- last figure emitted per (SKU, channel), so a restart neither re-emits nor misses a change.
CREATE TABLE "availability_feed_state" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"cursor_txid" xid8 DEFAULT '0' NOT NULL,
	"cursor_id" bigint DEFAULT 0 NOT NULL,
	"rules_version" integer DEFAULT -1 NOT NULL,
	"channels" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"kits_digest" text DEFAULT '' NOT NULL,
	"last_emit_at" timestamp with time zone,
	"passes" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "availability_feed_state_one_row" CHECK ("availability_feed_state"."id" = 1)
);
--> statement-breakpoint
INSERT INTO "availability_feed_state" ("id") VALUES (1);
--> statement-breakpoint
CREATE TABLE "availability_emitted" (
	"sku" text NOT NULL,
	"channel" text NOT NULL,
	"available" integer NOT NULL,
	"rules_version" integer NOT NULL,
	"emitted_at" timestamp with time zone NOT NULL,
	CONSTRAINT "availability_emitted_pk" PRIMARY KEY("sku","channel")
);
--> statement-breakpoint
-- GET /v1/events?type=availability.changed pages through these rows only (no cost to other writers)
CREATE INDEX "outbox_availability_idx" ON "outbox" USING btree ("txid","id") WHERE "outbox"."type" = 'availability.changed';

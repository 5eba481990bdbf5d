CREATE TABLE "reservation_changes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"reservation_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"reason" text NOT NULL,
	"detail" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "short_picks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"sku" text NOT NULL,
	"location" text NOT NULL,
	"expected_qty" integer NOT NULL,
	"found_qty" integer NOT NULL,
	"reservation_id" uuid,
	"reason" text NOT NULL,
	"actor" text NOT NULL,
	"outcome" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "short_picks_qty_nonneg" CHECK ("short_picks"."expected_qty" >= 0 and "short_picks"."found_qty" >= 0)
);
--> statement-breakpoint
ALTER TABLE "allocations" ADD COLUMN "short_qty" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "reservation_changes" ADD CONSTRAINT "reservation_changes_reservation_id_reservations_id_fk" FOREIGN KEY ("reservation_id") REFERENCES "public"."reservations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "reservation_changes_reservation_idx" ON "reservation_changes" USING btree ("reservation_id","id");--> statement-breakpoint
CREATE INDEX "short_picks_position_idx" ON "short_picks" USING btree ("sku","location");--> statement-breakpoint
ALTER TABLE "allocations" ADD CONSTRAINT "allocations_short_nonneg" CHECK ("allocations"."short_qty" >= 0);
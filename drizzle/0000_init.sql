CREATE TABLE "allocations" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"reservation_id" uuid NOT NULL,
	"line_no" integer NOT NULL,
	"sku" text NOT NULL,
	"location" text NOT NULL,
	"supply_id" uuid,
	"qty" integer NOT NULL,
	"committed_qty" integer DEFAULT 0 NOT NULL,
	"released_qty" integer DEFAULT 0 NOT NULL,
	"promised_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "allocations_qty_nonneg" CHECK ("allocations"."qty" >= 0 and "allocations"."committed_qty" >= 0 and "allocations"."released_qty" >= 0)
);
--> statement-breakpoint
CREATE TABLE "channel_holds" (
	"sku" text NOT NULL,
	"channel" text NOT NULL,
	"reserved" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "channel_holds_sku_channel_pk" PRIMARY KEY("sku","channel"),
	CONSTRAINT "channel_holds_nonneg" CHECK ("channel_holds"."reserved" >= 0)
);
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"caller" text NOT NULL,
	"key" text NOT NULL,
	"fingerprint" text NOT NULL,
	"status_code" integer NOT NULL,
	"response" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "idempotency_keys_caller_key_pk" PRIMARY KEY("caller","key")
);
--> statement-breakpoint
CREATE TABLE "ledger" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sku" text NOT NULL,
	"location" text NOT NULL,
	"delta_on_hand" integer DEFAULT 0 NOT NULL,
	"delta_reserved" integer DEFAULT 0 NOT NULL,
	"reason" text NOT NULL,
	"actor" text NOT NULL,
	"reservation_id" uuid,
	"ref" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "locations" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"rank" integer DEFAULT 100 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"type" text NOT NULL,
	"subject" text NOT NULL,
	"data" jsonb NOT NULL,
	"txid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone,
	CONSTRAINT "outbox_event_id_unique" UNIQUE("event_id")
);
--> statement-breakpoint
CREATE TABLE "positions" (
	"sku" text NOT NULL,
	"location" text NOT NULL,
	"on_hand" integer DEFAULT 0 NOT NULL,
	"reserved" integer DEFAULT 0 NOT NULL,
	"quality_hold" integer DEFAULT 0 NOT NULL,
	"safety_stock" integer DEFAULT 0 NOT NULL,
	"reorder_point" integer,
	"reorder_qty" integer,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "positions_sku_location_pk" PRIMARY KEY("sku","location"),
	CONSTRAINT "positions_on_hand_nonneg" CHECK ("positions"."on_hand" >= 0),
	CONSTRAINT "positions_reserved_nonneg" CHECK ("positions"."reserved" >= 0),
	CONSTRAINT "positions_quality_hold_nonneg" CHECK ("positions"."quality_hold" >= 0),
	CONSTRAINT "positions_safety_stock_nonneg" CHECK ("positions"."safety_stock" >= 0),
	CONSTRAINT "positions_no_oversell" CHECK ("positions"."reserved" + "positions"."quality_hold" <= "positions"."on_hand")
);
--> statement-breakpoint
CREATE TABLE "reservation_lines" (
	"reservation_id" uuid NOT NULL,
	"line_no" integer NOT NULL,
	"sku" text NOT NULL,
	"qty" integer NOT NULL,
	"location" text,
	"status" text NOT NULL,
	CONSTRAINT "reservation_lines_reservation_id_line_no_pk" PRIMARY KEY("reservation_id","line_no"),
	CONSTRAINT "reservation_lines_qty_pos" CHECK ("reservation_lines"."qty" > 0)
);
--> statement-breakpoint
CREATE TABLE "reservations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"order_ref" text NOT NULL,
	"channel" text NOT NULL,
	"status" text NOT NULL,
	"hold_seconds" integer,
	"expires_at" timestamp with time zone,
	"rules_version" integer DEFAULT 0 NOT NULL,
	"caller" text NOT NULL,
	"idempotency_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reservations_status" CHECK ("reservations"."status" in ('held','committed','released','expired'))
);
--> statement-breakpoint
CREATE TABLE "supply" (
	"id" uuid PRIMARY KEY NOT NULL,
	"sku" text NOT NULL,
	"location" text NOT NULL,
	"kind" text DEFAULT 'po' NOT NULL,
	"reference" text,
	"qty" integer NOT NULL,
	"received_qty" integer DEFAULT 0 NOT NULL,
	"allocated_qty" integer DEFAULT 0 NOT NULL,
	"expected_at" timestamp with time zone NOT NULL,
	"status" text DEFAULT 'open' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "supply_qty_pos" CHECK ("supply"."qty" > 0 and "supply"."received_qty" >= 0 and "supply"."allocated_qty" >= 0),
	CONSTRAINT "supply_no_overallocation" CHECK ("supply"."allocated_qty" + "supply"."received_qty" <= "supply"."qty")
);
--> statement-breakpoint
ALTER TABLE "allocations" ADD CONSTRAINT "allocations_reservation_id_reservations_id_fk" FOREIGN KEY ("reservation_id") REFERENCES "public"."reservations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "positions" ADD CONSTRAINT "positions_location_locations_id_fk" FOREIGN KEY ("location") REFERENCES "public"."locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reservation_lines" ADD CONSTRAINT "reservation_lines_reservation_id_reservations_id_fk" FOREIGN KEY ("reservation_id") REFERENCES "public"."reservations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "supply" ADD CONSTRAINT "supply_location_locations_id_fk" FOREIGN KEY ("location") REFERENCES "public"."locations"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "allocations_reservation_idx" ON "allocations" USING btree ("reservation_id");--> statement-breakpoint
CREATE INDEX "allocations_active_position_idx" ON "allocations" USING btree ("sku","location") WHERE "allocations"."qty" > 0;--> statement-breakpoint
CREATE INDEX "allocations_active_supply_idx" ON "allocations" USING btree ("supply_id") WHERE "allocations"."qty" > 0 and "allocations"."supply_id" is not null;--> statement-breakpoint
CREATE INDEX "idempotency_created_idx" ON "idempotency_keys" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "ledger_position_idx" ON "ledger" USING btree ("sku","location");--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "outbox" USING btree ("id") WHERE "outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "reservations_expiry_idx" ON "reservations" USING btree ("expires_at") WHERE "reservations"."status" = 'held' and "reservations"."expires_at" is not null;--> statement-breakpoint
CREATE INDEX "reservations_order_ref_idx" ON "reservations" USING btree ("order_ref");--> statement-breakpoint
CREATE INDEX "supply_sku_idx" ON "supply" USING btree ("sku","expected_at");
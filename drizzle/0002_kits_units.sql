CREATE TABLE "kit_components" (
	"kit_sku" text NOT NULL,
	"component_sku" text NOT NULL,
	"qty" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "kit_components_kit_sku_component_sku_pk" PRIMARY KEY("kit_sku","component_sku"),
	CONSTRAINT "kit_components_qty_pos" CHECK ("kit_components"."qty" > 0),
	CONSTRAINT "kit_components_not_self" CHECK ("kit_components"."kit_sku" <> "kit_components"."component_sku")
);
--> statement-breakpoint
CREATE TABLE "sku_units" (
	"sku" text NOT NULL,
	"unit" text NOT NULL,
	"factor" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sku_units_sku_unit_pk" PRIMARY KEY("sku","unit"),
	CONSTRAINT "sku_units_factor_pos" CHECK ("sku_units"."factor" > 0)
);
--> statement-breakpoint
ALTER TABLE "reservation_lines" ADD COLUMN "kit_sku" text;--> statement-breakpoint
ALTER TABLE "reservation_lines" ADD COLUMN "per_kit" integer;--> statement-breakpoint
ALTER TABLE "reservation_lines" ADD COLUMN "unit" text;--> statement-breakpoint
ALTER TABLE "reservation_lines" ADD COLUMN "unit_factor" integer;
CREATE TABLE "rules" (
	"version" integer PRIMARY KEY NOT NULL,
	"doc" jsonb NOT NULL,
	"actor" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rules_version_pos" CHECK ("rules"."version" > 0)
);

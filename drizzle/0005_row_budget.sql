DROP INDEX "reservations_order_ref_idx";--> statement-breakpoint
ALTER TABLE "reservations" ADD COLUMN "fingerprint" text;--> statement-breakpoint
ALTER TABLE "reservations" ADD COLUMN "answer" json;--> statement-breakpoint
-- data: a reservation's Idempotency-Key and first answer move onto its row (one transaction with the schema change)
UPDATE "reservations" r SET "fingerprint" = k."fingerprint", "answer" = k."response"::json
  FROM "idempotency_keys" k WHERE k."caller" = r."caller" AND k."key" = r."idempotency_key" AND k."status_code" = 201 AND k."response"->>'id' = r."id"::text;--> statement-breakpoint
DELETE FROM "idempotency_keys" k USING "reservations" r
  WHERE r."caller" = k."caller" AND r."idempotency_key" = k."key" AND r."answer" IS NOT NULL;--> statement-breakpoint
-- a key whose answer was purged (ATP_IDEMPOTENCY_TTL_HOURS) no longer replays: it may have been reused since
UPDATE "reservations" SET "idempotency_key" = NULL WHERE "answer" IS NULL AND "idempotency_key" IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "reservations_caller_key_idx" ON "reservations" USING btree ("caller","idempotency_key");--> statement-breakpoint
-- data: the ledger audits onHand only; rows that moved nothing but `reserved` go (reserved == Σ active allocations is checked by /v1/consistency)
DELETE FROM "ledger" WHERE "delta_on_hand" = 0 AND "delta_reserved" <> 0;--> statement-breakpoint
ALTER TABLE "ledger" DROP COLUMN "delta_reserved";

-- A reservation's lines move onto its row (issue 14's row budget: a single-line reservation writes
-- its reservation with its lines, its allocation and its outbox row — no reservation_lines row,
-- no index entry for it, no foreign-key check for it). `lines` is a jsonb array of
-- {line_no, sku, qty, location, status, kit_sku, per_kit, unit, unit_factor} in line_no order;
-- status changes (re-planning) rewrite the array on the row the change locks anyway.
-- reservation_lines stays as a read-only VIEW of the same columns for readers (reports, tests).
ALTER TABLE "reservations" ADD COLUMN "lines" jsonb DEFAULT '[]'::jsonb NOT NULL;
--> statement-breakpoint
UPDATE "reservations" r SET "lines" = l.lines
FROM (
	SELECT reservation_id,
	       jsonb_agg(jsonb_build_object('line_no', line_no, 'sku', sku, 'qty', qty, 'location', location, 'status', status,
	                                    'kit_sku', kit_sku, 'per_kit', per_kit, 'unit', unit, 'unit_factor', unit_factor) ORDER BY line_no) AS lines
	FROM "reservation_lines" GROUP BY reservation_id
) l
WHERE l.reservation_id = r.id;
--> statement-breakpoint
DROP TABLE "reservation_lines";
--> statement-breakpoint
ALTER TABLE "reservations" ALTER COLUMN "lines" DROP DEFAULT;
--> statement-breakpoint
CREATE VIEW "reservation_lines" AS
SELECT r.id AS reservation_id, l.line_no, l.sku, l.qty, l.location, l.status, l.kit_sku, l.per_kit, l.unit, l.unit_factor
FROM "reservations" r
CROSS JOIN LATERAL jsonb_to_recordset(r.lines) AS l(line_no integer, sku text, qty integer, location text, status text, kit_sku text, per_kit integer, unit text, unit_factor integer);

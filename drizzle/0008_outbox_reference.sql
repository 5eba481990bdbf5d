-- reservation.created no longer copies the reservation's first answer into the outbox: its row
-- has data NULL and refers to the reservation (subject = reservation id), whose stored answer is
-- immutable (a replay returns it byte for byte), so the event still shows the reservation as it
-- was created. Saves each reservation a second copy of its JSON (its bytes, its WAL and the
-- json→jsonb conversion inside the hot statement). Every reader of event data reads the view
-- outbox_event, the one definition of an event's data. Rows written before keep their copy.
ALTER TABLE "outbox" ALTER COLUMN "data" DROP NOT NULL;
--> statement-breakpoint
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_data_or_reference" CHECK ("data" IS NOT NULL OR "type" = 'reservation.created');
--> statement-breakpoint
-- data: the event's data as jsonb; data_json: the same as json text, for readers that pass it on
-- without looking inside (the relay, the feed): the stored answer is embedded, not re-parsed.
-- The CASE keeps the uuid cast away from other events' subjects.
CREATE VIEW "outbox_event" AS
SELECT o.id, o.event_id, o.type, o.subject, o.txid, o.created_at,
       coalesce(o.data, jsonb_build_object('reservation', r.answer)) AS data,
       coalesce(o.data::json, json_build_object('reservation', r.answer)) AS data_json
FROM "outbox" o
LEFT JOIN "reservations" r ON r.id = (CASE WHEN o.data IS NULL THEN o.subject::uuid END);

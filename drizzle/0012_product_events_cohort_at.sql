ALTER TABLE "product_events" ADD COLUMN "cohort_at" timestamp with time zone;--> statement-breakpoint
-- Events stored before this column: their pseudonym began with its first event.
UPDATE "product_events" AS e SET "cohort_at" = f."first_at"
FROM (SELECT "subject", min("occurred_at") AS "first_at" FROM "product_events" WHERE "subject" IS NOT NULL GROUP BY "subject") AS f
WHERE e."subject" = f."subject";

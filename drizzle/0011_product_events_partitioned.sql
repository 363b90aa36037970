CREATE TABLE "product_events" (
	"id" uuid NOT NULL,
	"name" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"subject" uuid,
	"source" text NOT NULL,
	"plan" text,
	"country" text,
	"properties" jsonb NOT NULL,
	CONSTRAINT "product_events_occurred_at_id_pk" PRIMARY KEY("occurred_at","id"),
	CONSTRAINT "product_events_source_check" CHECK ("source" in ('server', 'client'))
) PARTITION BY RANGE ("occurred_at");
--> statement-breakpoint
-- Monthly partitions (product_events_YYYY_MM) are created ahead by the analytics maintenance
-- job; an event outside them lands here rather than being lost.
CREATE TABLE "product_events_default" PARTITION OF "product_events" DEFAULT;
--> statement-breakpoint
CREATE INDEX "product_events_name_occurred_at_idx" ON "product_events" USING btree ("name","occurred_at");--> statement-breakpoint
CREATE INDEX "product_events_subject_occurred_at_idx" ON "product_events" USING btree ("subject","occurred_at");--> statement-breakpoint
-- Events recorded before pseudonymisation carried a raw user id: they are kept, unlinked.
INSERT INTO "product_events" ("id", "name", "occurred_at", "subject", "source", "plan", "country", "properties")
SELECT "id", "name", "occurred_at", NULL, 'server', NULL, NULL, "properties" FROM "product_events_legacy";--> statement-breakpoint
DROP TABLE "product_events_legacy";

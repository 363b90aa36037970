CREATE TABLE "analytics_sheet_days" (
	"day" date PRIMARY KEY NOT NULL,
	"synced_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "analytics_subject_keys" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"secret" text,
	"created_at" timestamp with time zone NOT NULL,
	"forgotten_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "product_event_daily" (
	"day" date NOT NULL,
	"name" text NOT NULL,
	"source" text NOT NULL,
	"plan" text NOT NULL,
	"country" text NOT NULL,
	"events" integer NOT NULL,
	"subjects" integer NOT NULL,
	CONSTRAINT "product_event_daily_day_name_source_plan_country_pk" PRIMARY KEY("day","name","source","plan","country"),
	CONSTRAINT "product_event_daily_counts_check" CHECK ("product_event_daily"."events" >= 0 and "product_event_daily"."subjects" >= 0)
);
--> statement-breakpoint
-- The old events table becomes product_events_legacy; 0011 copies it into the partitioned one.
ALTER TABLE "product_events" RENAME TO "product_events_legacy";--> statement-breakpoint
DROP INDEX IF EXISTS "product_events_occurred_at_idx";--> statement-breakpoint
DROP INDEX IF EXISTS "product_events_name_occurred_at_idx";--> statement-breakpoint
DROP INDEX IF EXISTS "product_events_user_id_idx";--> statement-breakpoint
ALTER TABLE "analytics_subject_keys" ADD CONSTRAINT "analytics_subject_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
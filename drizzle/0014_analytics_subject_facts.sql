CREATE TABLE "analytics_subject_facts" (
	"subject" uuid PRIMARY KEY NOT NULL,
	"cohort_at" timestamp with time zone NOT NULL,
	"plan" text,
	"country" text,
	"signed_up" boolean NOT NULL,
	"profile_at" timestamp with time zone,
	"content_at" timestamp with time zone,
	"plan_view_at" timestamp with time zone,
	"trial_at" timestamp with time zone,
	"premium_at" timestamp with time zone,
	"search_at" timestamp with time zone,
	"slot_at" timestamp with time zone,
	"booking_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"engage_7d" integer NOT NULL,
	"active_day_7" boolean NOT NULL,
	"active_day_30" boolean NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "analytics_subject_facts_cohort_at_idx" ON "analytics_subject_facts" USING btree ("cohort_at");--> statement-breakpoint
CREATE INDEX "analytics_subject_facts_search_at_idx" ON "analytics_subject_facts" USING btree ("search_at");--> statement-breakpoint
-- Facts of the events already stored (afterwards every insert keeps them current).
INSERT INTO "analytics_subject_facts" ("subject", "cohort_at", "plan", "country", "signed_up", "engage_7d",
  "active_day_7", "active_day_30", "updated_at", "profile_at", "content_at", "plan_view_at", "trial_at",
  "premium_at", "search_at", "slot_at", "booking_at", "completed_at")
SELECT "subject", min("cohort_at"),
  (array_agg("plan" ORDER BY "occurred_at" DESC) FILTER (WHERE "plan" IS NOT NULL))[1],
  (array_agg("country" ORDER BY "occurred_at" DESC) FILTER (WHERE "country" IS NOT NULL))[1],
  bool_or("name" = 'user_signed_up'),
  count(*) FILTER (WHERE "name" IN ('content_viewed', 'diet_plan_viewed', 'protection_plan_viewed', 'reminder_triggered', 'premium_feature_used')
    AND "occurred_at" < "cohort_at" + interval '168 hours'),
  coalesce(bool_or("occurred_at" >= "cohort_at" + interval '168 hours' AND "occurred_at" < "cohort_at" + interval '336 hours'), false),
  coalesce(bool_or("occurred_at" >= "cohort_at" + interval '720 hours' AND "occurred_at" < "cohort_at" + interval '888 hours'), false),
  now(),
  min("occurred_at") FILTER (WHERE "name" = 'profile_completed'),
  min("occurred_at") FILTER (WHERE "name" = 'content_viewed'),
  min("occurred_at") FILTER (WHERE "name" IN ('diet_plan_viewed', 'protection_plan_viewed')),
  min("occurred_at") FILTER (WHERE "name" = 'trial_started'),
  min("occurred_at") FILTER (WHERE "name" = 'plan_changed' AND "properties"->>'to' = 'premium'),
  min("occurred_at") FILTER (WHERE "name" = 'service_searched'),
  min("occurred_at") FILTER (WHERE "name" = 'slot_viewed'),
  min("occurred_at") FILTER (WHERE "name" = 'booking_created'),
  min("occurred_at") FILTER (WHERE "name" = 'booking_completed')
FROM "product_events" WHERE "subject" IS NOT NULL AND "cohort_at" IS NOT NULL
GROUP BY "subject";

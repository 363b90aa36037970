CREATE TABLE "content_items" (
	"id" uuid PRIMARY KEY NOT NULL,
	"slug" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"current_version" integer NOT NULL,
	"published_version" integer,
	"publish_at" timestamp with time zone,
	"created_by" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "content_items_type_check" CHECK ("content_items"."type" in ('article', 'tip', 'diet_block', 'protection_block')),
	CONSTRAINT "content_items_status_check" CHECK ("content_items"."status" in ('draft', 'published', 'archived'))
);
--> statement-breakpoint
CREATE TABLE "content_versions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"content_id" uuid NOT NULL,
	"version" integer NOT NULL,
	"title" text NOT NULL,
	"summary" text NOT NULL,
	"body" text NOT NULL,
	"locale" text NOT NULL,
	"tags" jsonb NOT NULL,
	"audience" jsonb NOT NULL,
	"tier" text NOT NULL,
	"source_name" text,
	"source_url" text,
	"edited_by" uuid,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "content_versions_tier_check" CHECK ("content_versions"."tier" in ('free', 'premium'))
);
--> statement-breakpoint
CREATE TABLE "content_views" (
	"id" uuid PRIMARY KEY NOT NULL,
	"content_id" uuid NOT NULL,
	"user_id" uuid,
	"viewed_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "wellness_profiles" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"age" integer,
	"birth_year" integer,
	"gender" text,
	"country" text,
	"region" text,
	"diet_preference" text,
	"activity_level" text,
	"preferred_language" text,
	"completed_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "wellness_profiles_age_check" CHECK ("wellness_profiles"."age" is null or "wellness_profiles"."age" between 13 and 120),
	CONSTRAINT "wellness_profiles_birth_year_check" CHECK ("wellness_profiles"."birth_year" is null or "wellness_profiles"."birth_year" between 1900 and 2100)
);
--> statement-breakpoint
CREATE TABLE "reminder_occurrences" (
	"reminder_id" uuid NOT NULL,
	"occurs_at" timestamp with time zone NOT NULL,
	"notification_id" uuid,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "reminder_occurrences_reminder_id_occurs_at_pk" PRIMARY KEY("reminder_id","occurs_at")
);
--> statement-breakpoint
CREATE TABLE "reminders" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"title" text NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"local_start" text NOT NULL,
	"time_zone" text NOT NULL,
	"recurrence" text NOT NULL,
	"interval_months" integer,
	"channel" text NOT NULL,
	"active" boolean NOT NULL,
	"priority" boolean DEFAULT false NOT NULL,
	"next_occurrence_at" timestamp with time zone,
	"occurrences" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "reminders_recurrence_check" CHECK ("reminders"."recurrence" in ('none', 'daily', 'weekly', 'monthly', 'every_n_months')),
	CONSTRAINT "reminders_channel_check" CHECK ("reminders"."channel" in ('whatsapp', 'email')),
	CONSTRAINT "reminders_interval_check" CHECK (("reminders"."recurrence" = 'every_n_months') = ("reminders"."interval_months" is not null and "reminders"."interval_months" between 1 and 120))
);
--> statement-breakpoint
CREATE TABLE "support_requests" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"subject" text NOT NULL,
	"message" text NOT NULL,
	"priority" boolean NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "support_requests_status_check" CHECK ("support_requests"."status" in ('open', 'closed'))
);
--> statement-breakpoint
ALTER TABLE "content_versions" ADD CONSTRAINT "content_versions_content_id_content_items_id_fk" FOREIGN KEY ("content_id") REFERENCES "public"."content_items"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "content_views" ADD CONSTRAINT "content_views_content_id_content_items_id_fk" FOREIGN KEY ("content_id") REFERENCES "public"."content_items"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "content_views" ADD CONSTRAINT "content_views_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "wellness_profiles" ADD CONSTRAINT "wellness_profiles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reminder_occurrences" ADD CONSTRAINT "reminder_occurrences_reminder_id_reminders_id_fk" FOREIGN KEY ("reminder_id") REFERENCES "public"."reminders"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reminders" ADD CONSTRAINT "reminders_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "support_requests" ADD CONSTRAINT "support_requests_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "content_items_slug_unique" ON "content_items" USING btree ("slug");--> statement-breakpoint
CREATE INDEX "content_items_status_type_idx" ON "content_items" USING btree ("status","type");--> statement-breakpoint
CREATE UNIQUE INDEX "content_versions_content_version_unique" ON "content_versions" USING btree ("content_id","version");--> statement-breakpoint
CREATE INDEX "content_versions_search_idx" ON "content_versions" USING gin (to_tsvector('simple', "title" || ' ' || "summary" || ' ' || "body"));--> statement-breakpoint
CREATE INDEX "content_views_content_viewed_idx" ON "content_views" USING btree ("content_id","viewed_at");--> statement-breakpoint
CREATE INDEX "content_views_user_id_idx" ON "content_views" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "reminders_user_id_idx" ON "reminders" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "reminders_due_idx" ON "reminders" USING btree ("next_occurrence_at") WHERE "reminders"."active";--> statement-breakpoint
CREATE INDEX "support_requests_user_id_idx" ON "support_requests" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "support_requests_open_idx" ON "support_requests" USING btree ("priority","created_at");
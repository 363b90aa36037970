ALTER TABLE "notifications" ADD COLUMN "sending_until" timestamp with time zone;--> statement-breakpoint
-- Messages sent before the weekly cap was counted by its places keep counting for their week.
UPDATE "notifications" SET "capped_at" = "sent_at" WHERE "status" = 'sent' AND NOT "urgent" AND NOT "priority" AND "capped_at" IS NULL;

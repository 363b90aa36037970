CREATE TABLE "booking_messages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"booking_id" uuid NOT NULL,
	"sender_id" uuid,
	"sender_role" text NOT NULL,
	"body" text,
	"created_at" timestamp with time zone NOT NULL,
	"read_at" timestamp with time zone,
	CONSTRAINT "booking_messages_sender_role_check" CHECK ("booking_messages"."sender_role" in ('customer', 'provider'))
);
--> statement-breakpoint
CREATE TABLE "live_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"type" text NOT NULL,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "push_devices" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"platform" text NOT NULL,
	"token" text NOT NULL,
	"p256dh" text,
	"auth" text,
	"created_at" timestamp with time zone NOT NULL,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "push_devices_kind_check" CHECK ("push_devices"."kind" in ('fcm', 'webpush')),
	CONSTRAINT "push_devices_platform_check" CHECK ("push_devices"."platform" in ('android', 'ios', 'web'))
);
--> statement-breakpoint
ALTER TABLE "consent_notices" DROP CONSTRAINT "consent_notices_purpose_check";--> statement-breakpoint
ALTER TABLE "consent_records" DROP CONSTRAINT "consent_records_purpose_check";--> statement-breakpoint
ALTER TABLE "consents" DROP CONSTRAINT "consents_purpose_check";--> statement-breakpoint
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_channel_check";--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "channels" jsonb;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "fallbacks" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "capped_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "provider_message_id" text;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "delivery_status" text;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "delivered_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "segments" integer;--> statement-breakpoint
ALTER TABLE "notifications" ADD COLUMN "encoding" text;--> statement-breakpoint
ALTER TABLE "booking_messages" ADD CONSTRAINT "booking_messages_booking_id_bookings_id_fk" FOREIGN KEY ("booking_id") REFERENCES "public"."bookings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "booking_messages" ADD CONSTRAINT "booking_messages_sender_id_users_id_fk" FOREIGN KEY ("sender_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "live_events" ADD CONSTRAINT "live_events_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "push_devices" ADD CONSTRAINT "push_devices_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "booking_messages_booking_id_idx" ON "booking_messages" USING btree ("booking_id","id");--> statement-breakpoint
CREATE INDEX "booking_messages_sender_id_idx" ON "booking_messages" USING btree ("sender_id");--> statement-breakpoint
CREATE INDEX "live_events_user_id_id_idx" ON "live_events" USING btree ("user_id","id");--> statement-breakpoint
CREATE INDEX "live_events_created_at_idx" ON "live_events" USING btree ("created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "push_devices_token_unique" ON "push_devices" USING btree ("token");--> statement-breakpoint
CREATE INDEX "push_devices_user_id_idx" ON "push_devices" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "notifications_user_id_capped_at_idx" ON "notifications" USING btree ("user_id","capped_at");--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_provider_message_id_unique" ON "notifications" USING btree ("provider_message_id");--> statement-breakpoint
ALTER TABLE "consent_notices" ADD CONSTRAINT "consent_notices_purpose_check" CHECK ("consent_notices"."purpose" in ('whatsapp', 'sms', 'marketing', 'analytics', 'data_processing'));--> statement-breakpoint
ALTER TABLE "consent_records" ADD CONSTRAINT "consent_records_purpose_check" CHECK ("consent_records"."purpose" in ('whatsapp', 'sms', 'marketing', 'analytics', 'data_processing'));--> statement-breakpoint
ALTER TABLE "consents" ADD CONSTRAINT "consents_purpose_check" CHECK ("consents"."purpose" in ('whatsapp', 'sms', 'marketing', 'analytics', 'data_processing'));--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_delivery_status_check" CHECK ("notifications"."delivery_status" in ('accepted', 'sent', 'delivered', 'undelivered', 'failed'));--> statement-breakpoint
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_channel_check" CHECK ("notifications"."channel" in ('whatsapp', 'email', 'sms', 'push'));
CREATE TABLE "ip_blocks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"ip_key" text NOT NULL,
	"reason" text NOT NULL,
	"source" text NOT NULL,
	"level" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_by" uuid,
	"lifted_at" timestamp with time zone,
	"lifted_by" uuid,
	"lift_reason" text
);
--> statement-breakpoint
CREATE TABLE "security_alerts" (
	"id" uuid PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"summary" text NOT NULL,
	"details" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"sent_at" timestamp with time zone,
	"digest_id" uuid
);
--> statement-breakpoint
CREATE TABLE "security_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"type" text NOT NULL,
	"severity" text NOT NULL,
	"rule" text NOT NULL,
	"location" text NOT NULL,
	"sample" text,
	"action" text NOT NULL,
	"points" integer NOT NULL,
	"ip" text,
	"user_id" uuid,
	"method" text,
	"route" text,
	"correlation_id" text
);
--> statement-breakpoint
CREATE INDEX "ip_blocks_ip_key_idx" ON "ip_blocks" USING btree ("ip_key","created_at");--> statement-breakpoint
CREATE INDEX "ip_blocks_expires_at_idx" ON "ip_blocks" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "security_alerts_sent_at_idx" ON "security_alerts" USING btree ("sent_at","created_at");--> statement-breakpoint
CREATE INDEX "security_events_occurred_at_idx" ON "security_events" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "security_events_ip_idx" ON "security_events" USING btree ("ip","occurred_at");--> statement-breakpoint
CREATE INDEX "security_events_user_id_idx" ON "security_events" USING btree ("user_id");
CREATE TABLE "former_trials" (
	"email_hash" text PRIMARY KEY NOT NULL,
	"trial_started_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone NOT NULL
);

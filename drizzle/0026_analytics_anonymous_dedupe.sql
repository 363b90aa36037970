CREATE TABLE "analytics_anonymous_seen" (
	"day" date NOT NULL,
	"key" text NOT NULL,
	CONSTRAINT "analytics_anonymous_seen_day_key_pk" PRIMARY KEY("day","key")
);

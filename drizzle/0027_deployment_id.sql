-- This database's deployment id, the default Redis key namespace (care:<id>:): drawn once, here,
-- so every instance on this database agrees on it and no other database shares it. 64 random bits.
CREATE TABLE "deployment" (
	"id" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "deployment_one_row" ON "deployment" USING btree ((true));
--> statement-breakpoint
INSERT INTO "deployment" ("id") SELECT substr(md5(gen_random_uuid()::text), 1, 16) WHERE NOT EXISTS (SELECT 1 FROM "deployment");

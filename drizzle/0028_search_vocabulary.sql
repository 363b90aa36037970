CREATE TABLE "search_vocabulary" (
	"variant" text NOT NULL,
	"word" text NOT NULL,
	CONSTRAINT "search_vocabulary_pkey" PRIMARY KEY("variant","word")
);
--> statement-breakpoint
ALTER TABLE "services" ADD COLUMN "search_vector" "tsvector" GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED NOT NULL;--> statement-breakpoint
CREATE INDEX "services_search_vector_idx" ON "services" USING gin ("search_vector");
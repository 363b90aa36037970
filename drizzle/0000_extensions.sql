-- Extensions Drizzle cannot declare: btree_gist for exclusion constraints (no double
-- booking), pg_trgm for typo-tolerant search. Both exist in PostgreSQL 15 contrib and PGlite.
CREATE EXTENSION IF NOT EXISTS btree_gist;
--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS pg_trgm;

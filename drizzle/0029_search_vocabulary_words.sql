-- Every service's search document rebuilt with the names of all the categories above its own
-- (a service under Fitness > Yoga is found by "fitness"), and the typo fallback's vocabulary made:
-- the words of each service's name and of those category names (as the full-text parser splits
-- them, 3 to 40 letters, no digits or punctuation), each with its single-letter deletions.
-- The same statement as refreshSearchText in src/modules/catalog/catalog.repository.ts, which
-- keeps both from now on.
WITH RECURSIVE path(id, names, depth) AS (
  SELECT id, name, 0 FROM categories WHERE parent_id IS NULL
  UNION ALL
  SELECT c.id, path.names || ' ' || c.name, path.depth + 1
  FROM categories c JOIN path ON c.parent_id = path.id WHERE path.depth < 32
),
refreshed AS (
  UPDATE services
  SET search_text = concat_ws(' ', services.name, nullif(services.description, ''), path.names, p.display_name)
  FROM path, providers p
  WHERE path.id = services.category_id AND p.id = services.provider_id
  RETURNING services.name AS service_name, path.names AS category_names
),
words AS (
  SELECT DISTINCT w.lexeme AS word
  FROM refreshed, unnest(to_tsvector('simple', refreshed.service_name || ' ' || refreshed.category_names)) w
  WHERE length(w.lexeme) BETWEEN 3 AND 40 AND w.lexeme !~ '[0-9[:punct:]]'
)
INSERT INTO search_vocabulary (variant, word)
SELECT word, word FROM words
UNION
SELECT overlay(word placing '' from i for 1), word FROM words, generate_series(1, length(word)) i
ON CONFLICT DO NOTHING;
--> statement-breakpoint
-- Statistics of the new column now, so the planner estimates matches before autovacuum's first analyze.
ANALYZE services;

import { invalidField } from '../../errors.js';
import type { Db } from '../../infra/db/client.js';
import type { Actor } from '../../shared/actor.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import type { Track } from '../analytics/index.js';
import type { CatalogCache } from './catalog.cache.js';
import { toSearchResult } from './catalog.dto.js';
import type { CatalogRepository, SearchCursor, SearchMode, SearchSort } from './catalog.repository.js';
import { SEARCH_SORTS, type SearchQueryInput, type SearchResult } from './catalog.schemas.js';

const SEARCH_TTL_MS = 15 * 60_000;

interface EncodedCursor extends SearchCursor {
  mode: SearchMode;
  sort: SearchSort;
}

const CURSOR_HINT = 'is not a cursor of this search (pass meta.next_cursor with the same query)';
// A search page ends at its last row's sort key and id, in the mode (full text, typo-tolerant, none) that found it.
const searchCursor = cursorCodec<EncodedCursor>(
  {
    mode: cursorField.oneOf(['fts', 'trgm', 'all'] as const),
    sort: cursorField.oneOf(SEARCH_SORTS),
    key: cursorField.number,
    id: cursorField.uuid,
  },
  { hint: CURSOR_HINT },
);

// A cursor is only good for the kind of search that wrote it: its keys mean nothing in another sort or mode.
function decodeCursor(cursor: string, sort: SearchSort, searching: boolean): EncodedCursor {
  const decoded = searchCursor.decode(cursor);
  const modeFits = searching ? decoded.mode !== 'all' : decoded.mode === 'all';
  if (!modeFits || decoded.sort !== sort) throw invalidField('query.cursor', CURSOR_HINT);
  return decoded;
}

export interface SearchPage {
  items: SearchResult[];
  nextCursor: string | null;
}

/** Search over the active services of verified providers. */
export function createSearchUseCases(deps: {
  db: Db;
  /** Where searches run (the read replica when there is one); the `service_searched` event goes to `db`. */
  readDb: Db;
  repository: CatalogRepository;
  cache: Pick<CatalogCache, 'search'>;
  track: Track;
}) {
  const { db, readDb, repository, cache } = deps;

  return {
    /**
     * A non-empty `q` is matched in full text first and, when that finds nothing, by trigram
     * word similarity (typos). Cached per normalised query.
     */
    async search(actor: Actor | undefined, query: SearchQueryInput): Promise<SearchPage> {
      const q = query.q?.trim().replace(/\s+/g, ' ').toLowerCase() || undefined;
      const sort: SearchSort = query.sort ?? 'relevance';
      if (query.min_price !== undefined && query.max_price !== undefined && query.min_price > query.max_price) {
        throw invalidField('query.min_price', 'must not be greater than max_price');
      }
      const after = query.cursor ? decodeCursor(query.cursor, sort, q !== undefined) : undefined;
      const filters = {
        q,
        category: query.category?.trim().toLowerCase(),
        city: query.city?.trim().toLowerCase(),
        minPrice: query.min_price,
        maxPrice: query.max_price,
        minRating: query.min_rating,
      };
      const key = JSON.stringify([filters, sort, query.limit, query.cursor ?? null]);
      const page = await cache.search.get(key, SEARCH_TTL_MS, async (): Promise<SearchPage> => {
        const run = (mode: SearchMode) =>
          repository.search(readDb, filters, { mode, sort, after, limit: query.limit + 1 });
        // A cursor continues in the mode that found its first page, so the fallback never switches mid-way.
        let mode: SearchMode = after?.mode ?? (q ? 'fts' : 'all');
        let rows = await run(mode);
        if (!after && mode === 'fts' && rows.length === 0) {
          mode = 'trgm';
          rows = await run(mode);
        }
        const shown = rows.slice(0, query.limit);
        const last = shown.at(-1);
        return {
          items: shown.map(toSearchResult),
          nextCursor:
            rows.length > query.limit && last
              ? searchCursor.encode({ mode, sort, key: last.key, id: last.service.id })
              : null,
        };
      });
      // No query text: it may hold personal data.
      await deps.track(db, 'service_searched', actor?.id ?? null, {
        results: page.items.length,
        has_query: q !== undefined,
      });
      return page;
    },
  };
}

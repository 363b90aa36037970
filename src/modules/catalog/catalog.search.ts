import { invalidField } from '../../errors.js';
import type { Db } from '../../infra/db/client.js';
import type { Actor } from '../../shared/actor.js';
import { etagOf } from '../../shared/etag.js';
import { cursorCodec, cursorField } from '../../shared/pagination.js';
import type { Track } from '../analytics/index.js';
import type { CatalogCache } from './catalog.cache.js';
import { toSearchResult } from './catalog.dto.js';
import type {
  CatalogRepository,
  SearchCursor,
  SearchFilters,
  SearchMatch,
  SearchMode,
  SearchRow,
  SearchSort,
} from './catalog.repository.js';
import { SEARCH_SORTS, type SearchQueryInput, type SearchResult } from './catalog.schemas.js';
import type { CatalogMedia } from './catalog.service.js';
import { typoTsquery } from './catalog.typos.js';

const SEARCH_TTL_MS = 15 * 60_000;
/** How many currencies a refused price comparison names. */
const MAX_CURRENCIES_NAMED = 5;
/**
 * The shape of a cached answer (SearchAnswer), stamped into its key. Instances of two releases
 * share the store during a rolling deploy: one that changes the shape changes this, so neither
 * reads the other's entries (release 0.1.0 cached the page as objects, unstamped; body-v2 had no ETag;
 * body-v3 no `image`).
 */
const ANSWER_FORMAT = 'body-v4';

interface EncodedCursor extends SearchCursor {
  mode: SearchMode;
  sort: SearchSort;
}

const CURSOR_HINT = 'is not a cursor of this search (pass meta.next_cursor with the same query)';
// A search page ends at its last row's sort key and id, in the mode (full text, typo fallback, none) that found it.
const searchCursor = cursorCodec<EncodedCursor>(
  {
    mode: cursorField.oneOf(['fts', 'typo', 'all'] as const),
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

/** How the route writes a page (its response schema): the cache keeps what it wrote. */
export type RenderPage = (page: SearchPage) => string;

/**
 * A cached search: the page as the route wrote it, its ETag (so a hit is not hashed again), and
 * how many results it holds (for the event).
 */
export interface SearchAnswer {
  body: string;
  etag: string;
  results: number;
}

/** Search over the active services of verified providers. */
export function createSearchUseCases(deps: {
  db: Db;
  /** Where searches run (the read replica when there is one); the `service_searched` event goes to `db`. */
  readDb: Db;
  repository: CatalogRepository;
  cache: Pick<CatalogCache, 'search'>;
  track: Pick<Track, 'later'>;
  /** The results' images, read in one go per page (none when no result has one). */
  media: Pick<CatalogMedia, 'images'>;
}) {
  const { db, readDb, repository, cache, media } = deps;

  /** What a search in `mode` matches; undefined when the query has nothing to match with. */
  const matchOf = async (mode: SearchMode, q: string | undefined): Promise<SearchMatch | undefined> => {
    if (mode === 'all' || q === undefined) return { mode: 'all' };
    if (mode === 'fts') return { mode, q };
    const tsquery = typoTsquery(await repository.nearWords(readDb, q));
    return tsquery === undefined ? undefined : { mode, tsquery };
  };

  /**
   * Prices are minor units of their own currency, so comparing them across currencies is
   * meaningless (£70 = 7000 would sort before 1,500 KES = 150000). Without `currency`, a price
   * sort or filter is answered only when every match is priced in one currency.
   */
  const checkOneCurrency = async (filters: SearchFilters, match: SearchMatch): Promise<void> => {
    const currencies = await repository.searchCurrencies(readDb, filters, match, MAX_CURRENCIES_NAMED + 1);
    if (currencies.length < 2) return;
    const named = currencies.slice(0, MAX_CURRENCIES_NAMED).join(', ');
    const more = currencies.length > MAX_CURRENCIES_NAMED ? ', …' : '';
    throw invalidField(
      'query.currency',
      `is required to sort or filter by price: the matches are priced in ${named}${more} (send one of them)`,
    );
  };

  return {
    /**
     * A non-empty `q` is matched in full text first and, when that finds nothing, by the typo
     * fallback (catalog.typos.ts). The page as `render` wrote it is cached per normalised query,
     * so a repeated search is answered with those bytes and their ETag: no query, no parse, no
     * serialisation, no hashing.
     */
    async search(
      actor: Actor | undefined,
      query: SearchQueryInput,
      render: RenderPage,
    ): Promise<Pick<SearchAnswer, 'body' | 'etag'>> {
      const q = query.q?.trim().replace(/\s+/g, ' ').toLowerCase() || undefined;
      const sort: SearchSort = query.sort ?? 'relevance';
      if (query.min_price !== undefined && query.max_price !== undefined && query.min_price > query.max_price) {
        throw invalidField('query.min_price', 'must not be greater than max_price');
      }
      const after = query.cursor ? decodeCursor(query.cursor, sort, q !== undefined) : undefined;
      const filters = {
        category: query.category?.trim().toLowerCase(),
        city: query.city?.trim().toLowerCase(),
        minPrice: query.min_price,
        maxPrice: query.max_price,
        minRating: query.min_rating,
        providerId: query.provider_id,
        currency: query.currency,
      };
      const comparesPrices = sort === 'price' || query.min_price !== undefined || query.max_price !== undefined;
      const key = `${ANSWER_FORMAT}:${JSON.stringify([{ q, ...filters }, sort, query.limit, query.cursor ?? null])}`;
      const answer = await cache.search.get(key, SEARCH_TTL_MS, async (): Promise<SearchAnswer> => {
        const run = async (mode: SearchMode): Promise<SearchRow[]> => {
          const match = await matchOf(mode, q);
          if (!match) return [];
          if (comparesPrices && filters.currency === undefined) await checkOneCurrency(filters, match);
          return repository.search(readDb, filters, { match, sort, after, limit: query.limit + 1 });
        };
        // A cursor continues in the mode that found its first page, so the fallback never switches mid-way.
        let mode: SearchMode = after?.mode ?? (q ? 'fts' : 'all');
        let rows = await run(mode);
        if (!after && mode === 'fts' && rows.length === 0) {
          mode = 'typo';
          rows = await run(mode);
        }
        const shown = rows.slice(0, query.limit);
        const last = shown.at(-1);
        const images = await media.images(
          shown.flatMap((row) => (row.service.imageMediaId ? [row.service.imageMediaId] : [])),
          readDb,
        );
        const body = render({
          items: shown.map((row) => toSearchResult(row, images)),
          nextCursor:
            rows.length > query.limit && last
              ? searchCursor.encode({ mode, sort, key: last.key, id: last.service.id })
              : null,
        });
        return { body, etag: etagOf(body), results: shown.length };
      });
      // No query text: it may hold personal data. Recorded after the answer, batched: a search
      // is a read, and an insert per search would cost more than a cached answer.
      deps.track.later(db, 'service_searched', actor?.id ?? null, {
        results: answer.results,
        has_query: q !== undefined,
      });
      return answer;
    },
  };
}

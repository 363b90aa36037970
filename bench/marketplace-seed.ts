/**
 * Data for the marketplace bench: a category tree, verified providers (users with role
 * `provider`, who can sign in to change their schedule) with Mon–Fri 09:00–17:00 Europe/London
 * schedules, 10,000 services with varied names, descriptions, cities and prices, and customers who
 * sign in over HTTP; optionally a booking history (`seedBookings`). Written straight into the
 * database the server will open, before it starts. Deterministic (seeded PRNG). Also the typo
 * queries the search bench sends (`typoQueries`), made from the same vocabulary, and the check
 * that no two active bookings of a provider overlap (`countDoubleBookings`).
 */
import { sql } from 'drizzle-orm';
import { type Db, queryRows } from '../src/infra/db/client.js';
import { uuidv7 } from '../src/infra/ids.js';
import { availability } from '../src/modules/bookings/bookings.tables.js';
import { categories, providers, services } from '../src/modules/catalog/catalog.tables.js';
import { createCatalogRepository } from '../src/modules/catalog/index.js';
import { users } from '../src/modules/identity/identity.tables.js';
import { hashPassword } from '../src/modules/identity/passwords.js';
import { withIndexesDeferred } from './support.js';

export const CUSTOMER_PASSWORD = 'bench-marketplace-customer-2026';
export const customerEmail = (i: number) => `bench-customer-${i}@bench.care`;
/** Providers sign in with CUSTOMER_PASSWORD too. */
export const providerEmail = (i: number) => `bench-provider-${i}@bench.care`;

export interface SeedSize {
  providers: number;
  services: number;
  customers: number;
}

export interface SeededService {
  id: string;
  providerId: string;
  durationMinutes: number;
  bufferMinutes: number;
}

export interface SeededData {
  services: SeededService[];
  providerIds: string[];
  customers: number;
}

// Parent categories, each with its subcategories and the service kinds filed under them.
const TREE: { slug: string; name: string; children: { slug: string; name: string; kinds: string[] }[] }[] = [
  {
    slug: 'massage',
    name: 'Massage',
    children: [
      { slug: 'deep-tissue', name: 'Deep tissue massage', kinds: ['deep tissue massage', 'trigger point therapy'] },
      { slug: 'sports-massage', name: 'Sports massage', kinds: ['sports massage', 'post-marathon recovery massage'] },
      {
        slug: 'relaxation',
        name: 'Relaxation massage',
        kinds: ['swedish massage', 'hot stone massage', 'aromatherapy'],
      },
    ],
  },
  {
    slug: 'physiotherapy',
    name: 'Physiotherapy',
    children: [
      { slug: 'back-neck', name: 'Back and neck', kinds: ['lower back pain assessment', 'neck and shoulder physio'] },
      {
        slug: 'rehab',
        name: 'Injury rehabilitation',
        kinds: ['knee rehabilitation', 'ankle sprain rehab', 'acl rehab'],
      },
      { slug: 'posture', name: 'Posture', kinds: ['posture correction', 'ergonomic workstation review'] },
    ],
  },
  {
    slug: 'fitness',
    name: 'Fitness',
    children: [
      { slug: 'personal-training', name: 'Personal training', kinds: ['personal training', 'strength coaching'] },
      { slug: 'pilates', name: 'Pilates', kinds: ['reformer pilates', 'mat pilates', 'pilates for beginners'] },
      { slug: 'yoga', name: 'Yoga', kinds: ['vinyasa yoga', 'hatha yoga', 'yin yoga', 'prenatal yoga'] },
    ],
  },
  {
    slug: 'mental-health',
    name: 'Mental health',
    children: [
      { slug: 'counselling', name: 'Counselling', kinds: ['counselling session', 'bereavement counselling'] },
      { slug: 'cbt', name: 'Cognitive behavioural therapy', kinds: ['cbt for anxiety', 'cbt for insomnia'] },
      { slug: 'mindfulness', name: 'Mindfulness', kinds: ['mindfulness coaching', 'guided meditation', 'breathwork'] },
    ],
  },
  {
    slug: 'nutrition',
    name: 'Nutrition',
    children: [
      { slug: 'dietitian', name: 'Dietitian', kinds: ['dietitian consultation', 'meal plan review'] },
      { slug: 'sports-nutrition', name: 'Sports nutrition', kinds: ['sports nutrition plan', 'endurance fuelling'] },
    ],
  },
  {
    slug: 'complementary',
    name: 'Complementary therapy',
    children: [
      { slug: 'acupuncture', name: 'Acupuncture', kinds: ['acupuncture', 'dry needling'] },
      { slug: 'osteopathy', name: 'Osteopathy', kinds: ['osteopathy', 'cranial osteopathy'] },
      { slug: 'reflexology', name: 'Reflexology', kinds: ['reflexology', 'foot reflexology'] },
    ],
  },
];

export const CITIES = [
  'London',
  'Manchester',
  'Birmingham',
  'Leeds',
  'Glasgow',
  'Edinburgh',
  'Bristol',
  'Liverpool',
  'Cardiff',
  'Belfast',
  'Nottingham',
  'Sheffield',
  'Brighton',
  'Oxford',
  'Cambridge',
  'York',
];

const FIRST = ['Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Noah', 'Freya', 'Arthur', 'Priya', 'Mohammed', 'Zara'];
const LAST = ['Smith', 'Jones', 'Taylor', 'Brown', 'Khan', 'Patel', 'Evans', 'Wilson', 'Murphy', 'Walsh', 'Okafor'];
const STUDIO = ['Studio', 'Clinic', 'Wellness', 'Therapy Rooms', 'Health', 'Practice', 'Movement Lab'];
const QUALIFIER = ['', 'express ', 'extended ', 'home visit ', 'online ', 'intensive ', 'gentle ', 'introductory '];
const FOR_WHOM = ['', ' for runners', ' for office workers', ' for seniors', ' for new parents', ' for athletes'];
const SENTENCES = [
  'A one-to-one session tailored to your goals.',
  'Includes an initial assessment and a plan to take home.',
  'Suitable for all levels; no experience needed.',
  'Evidence-based techniques from a registered practitioner.',
  'Quiet treatment room with parking nearby.',
  'Follow-up notes sent after every visit.',
  'Helps with stiffness, tension and recovery after training.',
  'Bring comfortable clothing; towels are provided.',
  'Gift vouchers and block bookings available.',
  'Wheelchair accessible ground-floor room.',
];
const DURATIONS = [30, 45, 60, 60, 60, 90];
const BUFFERS = [0, 0, 10, 15];

/** mulberry32: a small deterministic PRNG, so every run seeds the same catalogue. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  return { next, pick, int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)) };
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

async function insertChunked<T>(rows: T[], size: number, insert: (chunk: T[]) => Promise<unknown>) {
  for (let i = 0; i < rows.length; i += size) await insert(rows.slice(i, i + size));
}

/**
 * Inserts the bench catalogue into an empty, migrated database. The search document of every
 * service is then built by the catalog repository's own refresh (service name + description +
 * category name + provider display name), so it is exactly what the app would keep.
 */
export async function seedMarketplace(db: Db, size: SeedSize): Promise<SeededData> {
  const random = prng(20_260_415);
  const now = new Date();
  const DAY_MS = 86_400_000;

  // One argon2id hash, shared by every seeded account (providers never sign in here).
  const passwordHash = await hashPassword(CUSTOMER_PASSWORD);

  const categoryRows: (typeof categories.$inferInsert)[] = [];
  const leaves: { id: string; name: string; kinds: string[] }[] = [];
  for (const parent of TREE) {
    const parentId = uuidv7();
    categoryRows.push({
      id: parentId,
      parentId: null,
      slug: parent.slug,
      name: parent.name,
      createdAt: now,
      updatedAt: now,
    });
    for (const child of parent.children) {
      const id = uuidv7();
      categoryRows.push({ id, parentId, slug: child.slug, name: child.name, createdAt: now, updatedAt: now });
      leaves.push({ id, name: child.name, kinds: child.kinds });
    }
  }
  await db.insert(categories).values(categoryRows);

  const userRows: (typeof users.$inferInsert)[] = [];
  const providerRows: (typeof providers.$inferInsert)[] = [];
  for (let i = 0; i < size.providers; i++) {
    const userId = uuidv7();
    const person = `${random.pick(FIRST)} ${random.pick(LAST)}`;
    const city = random.pick(CITIES);
    const displayName = random.next() < 0.5 ? person : `${person.split(' ')[1]} ${random.pick(STUDIO)} ${city}`;
    const ratingCount = random.int(0, 40);
    const ratingSum = ratingCount === 0 ? 0 : Math.min(ratingCount * 5, ratingCount * random.int(3, 5));
    userRows.push({
      id: userId,
      email: providerEmail(i),
      passwordHash,
      name: person,
      role: 'provider',
      timeZone: 'Europe/London',
      passwordChangedAt: now,
      createdAt: now,
      updatedAt: now,
    });
    providerRows.push({
      id: uuidv7(),
      userId,
      displayName,
      bio: `${random.pick(SENTENCES)} Based in ${city}.`,
      city,
      country: 'GB',
      languages: random.next() < 0.2 ? ['en', random.pick(['pl', 'ur', 'es', 'cy'])] : ['en'],
      timeZone: 'Europe/London',
      verification: 'verified',
      autoConfirm: random.next() < 0.5,
      ratingCount,
      ratingSum,
      ratingAverage: ratingCount === 0 ? null : Math.round((ratingSum / ratingCount) * 100) / 100,
      createdAt: now,
      updatedAt: now,
    });
  }
  for (let i = 0; i < size.customers; i++) {
    userRows.push({
      id: uuidv7(),
      email: customerEmail(i),
      passwordHash,
      name: `Bench Customer ${i}`,
      role: 'user',
      passwordChangedAt: now,
      createdAt: now,
      updatedAt: now,
    });
  }
  await insertChunked(userRows, 500, (chunk) => db.insert(users).values(chunk));
  await insertChunked(providerRows, 500, (chunk) => db.insert(providers).values(chunk));

  const serviceRows: (typeof services.$inferInsert)[] = [];
  for (let i = 0; i < size.services; i++) {
    const provider = providerRows[i % providerRows.length] as typeof providers.$inferInsert & { id: string };
    const leaf = random.pick(leaves);
    const kind = random.pick(leaf.kinds);
    const durationMinutes = random.pick(DURATIONS);
    const name = capitalise(`${random.pick(QUALIFIER)}${kind}${random.pick(FOR_WHOM)} (${durationMinutes} min)`);
    const description = [
      random.pick(SENTENCES),
      random.pick(SENTENCES),
      random.next() < 0.5 ? random.pick(SENTENCES) : '',
    ]
      .filter(Boolean)
      .join(' ');
    // Spread over the last year, so "newest" orders something real.
    const createdAt = new Date(now.getTime() - random.int(0, 365) * DAY_MS - random.int(0, DAY_MS - 1));
    serviceRows.push({
      id: uuidv7(),
      providerId: provider.id,
      categoryId: leaf.id,
      name,
      description,
      durationMinutes,
      bufferMinutes: random.pick(BUFFERS),
      // £15.00 to £150.00 in 50p steps.
      priceMinor: random.int(30, 300) * 50,
      currency: 'GBP',
      isActive: random.next() < 0.97,
      searchText: '',
      createdAt,
      updatedAt: createdAt,
    });
  }
  // The search indexes (trigram, full text) are built once, after the rows and their documents are in.
  await withIndexesDeferred(db, 'services', async () => {
    await insertChunked(serviceRows, 500, (chunk) => db.insert(services).values(chunk));
    const repository = createCatalogRepository();
    for (const leaf of leaves) await repository.refreshSearchTextOfCategory(db, leaf.id);
  });

  const weekdays = [1, 2, 3, 4, 5];
  await insertChunked(providerRows, 500, (chunk) =>
    db.insert(availability).values(
      chunk.map((provider) => ({
        providerId: provider.id as string,
        timeZone: 'Europe/London',
        weekly: weekdays.map((day) => ({ day_of_week: day, start: '09:00', end: '17:00' })),
        breaks: [],
        exceptions: [],
        updatedAt: now,
      })),
    ),
  );
  // Fresh statistics, as a database that has been running a while would have.
  await db.execute(sql`analyze`);

  return {
    services: serviceRows
      .filter((row) => row.isActive)
      .map((row) => ({
        id: row.id as string,
        providerId: row.providerId,
        durationMinutes: row.durationMinutes,
        bufferMinutes: row.bufferMinutes ?? 0,
      })),
    providerIds: providerRows.map((row) => row.id as string),
    customers: size.customers,
  };
}

// ---------------------------------------------------------------------------------------------
// Booking history

export interface BookingHistory {
  /** Past bookings of each provider (completed, 10% cancelled, 5% no-show), four a day going back. */
  pastPerProvider: number;
  /** One confirmed booking each weekday at 10:00 London time, 2 to 60 days ahead, of every provider. */
  upcoming: boolean;
}

/**
 * Bookings of the seeded providers' first active service (the one the slots and booking benches
 * use), written with SQL (generate_series) so a million rows take seconds. Past bookings are
 * inactive, so the exclusion constraint does not apply to them; the upcoming ones are one a day
 * and never overlap. Returns the bookings table's row count.
 */
export async function seedBookings(db: Db, history: BookingHistory): Promise<number> {
  const offers = `with offer as (
      select distinct on (s.provider_id) s.provider_id, s.id, s.duration_minutes, s.buffer_minutes, s.price_minor,
        p.n
      from services s
      join (select id, row_number() over (order by id) - 1 as n from providers) p on p.id = s.provider_id
      where s.is_active
      order by s.provider_id, s.id
    ),
    customer as (select array_agg(id order by id) as ids from users where role = 'user')`;
  const columns = `insert into bookings (id, customer_id, provider_id, service_id, status, starts_at, ends_at,
      blocks_from, blocks_until, price_minor, currency, created_at, updated_at)`;
  const row = (idTag: string, status: string) => `md5('${idTag}-' || o.n || '-' || k)::uuid,
      customer.ids[1 + ((o.n + k) % array_length(customer.ids, 1))], o.provider_id, o.id, ${status},
      t, t + make_interval(mins => o.duration_minutes), t,
      t + make_interval(mins => o.duration_minutes + o.buffer_minutes), o.price_minor, 'GBP', t - interval '3 days', t`;
  // The bookings' plain indexes are built once, after the rows are in; the exclusion constraint stays.
  await withIndexesDeferred(db, 'bookings', async () => {
    if (history.pastPerProvider > 0) {
      await db.execute(
        sql.raw(`${offers} ${columns}
        select ${row('past', "case when k % 20 = 0 then 'no_show' when k % 10 = 0 then 'cancelled' else 'completed' end")}
        from offer o cross join customer cross join generate_series(0, ${history.pastPerProvider - 1}) k
        cross join lateral (
          select date_trunc('day', now()) - (k / 4 + 1) * interval '1 day' + (9 + 2 * (k % 4)) * interval '1 hour' as t
        ) at_time`),
      );
    }
    if (history.upcoming) {
      await db.execute(
        sql.raw(`${offers} ${columns}
        select ${row('upcoming', "'confirmed'")}
        from offer o cross join customer cross join generate_series(2, 60) k
        cross join lateral (
          select ((current_date + k)::timestamp + time '10:00') at time zone 'Europe/London' as t
        ) at_time
        where extract(isodow from current_date + k) between 1 and 5`),
      );
    }
  });
  await db.execute(sql`analyze bookings`);
  const [count] = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from bookings`);
  return count?.n ?? 0;
}

/**
 * Active bookings that overlap an earlier active booking of the same provider (0 when the
 * exclusion constraint held): each booking against the latest end among the provider's earlier ones.
 */
export async function countDoubleBookings(db: Db): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    db,
    sql`select count(*)::int as n from (
      select blocks_from, max(blocks_until) over (
        partition by provider_id order by blocks_from, id rows between unbounded preceding and 1 preceding
      ) as earlier_until
      from bookings where status in ('pending_payment', 'pending', 'confirmed')
    ) ordered where earlier_until > blocks_from`,
  );
  return row?.n ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Typo queries

export type TypoEdit = 'deletion' | 'transposition' | 'substitution' | 'insertion';
const EDITS: TypoEdit[] = ['deletion', 'transposition', 'substitution', 'insertion'];

export interface TypoQuery {
  /** What is searched: one word with one edit, or a name with one of its words edited. */
  query: string;
  /** The word the typo was made from: a good first result has it in its name or category. */
  word: string;
  edit: TypoEdit;
  phrase: boolean;
}

// Keys beside each other on a QWERTY keyboard (same row, and the keys above and below).
const KEY_ROWS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm'];
function neighbours(letter: string): string {
  const row = KEY_ROWS.findIndex((keys) => keys.includes(letter));
  if (row < 0) return 'e';
  const at = (KEY_ROWS[row] as string).indexOf(letter);
  return [KEY_ROWS[row]?.[at - 1], KEY_ROWS[row]?.[at + 1], KEY_ROWS[row - 1]?.[at], KEY_ROWS[row + 1]?.[at]]
    .filter((key): key is string => key !== undefined)
    .join('');
}

/** One edit of `word` at a position after its first letter (people rarely mistype the first). */
function misspell(word: string, edit: TypoEdit, random: ReturnType<typeof prng>): string {
  const at = random.int(1, word.length - 1);
  const letter = word[at] as string;
  switch (edit) {
    case 'deletion':
      return word.slice(0, at) + word.slice(at + 1);
    case 'transposition': {
      const i = Math.min(at, word.length - 2);
      return word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2);
    }
    case 'substitution':
      return word.slice(0, at) + random.pick([...neighbours(letter)]) + word.slice(at + 1);
    case 'insertion':
      return word.slice(0, at + 1) + random.pick([...neighbours(letter)]) + word.slice(at + 1);
  }
}

// Shorter words have too few trigrams for any one-edit variant to be told apart from other words.
const MIN_TYPO_WORD = 4;
const wordsOf = (name: string) =>
  name
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter(Boolean);

/** Category names and service names as seeded (kinds, qualifiers, "for whom"). */
function catalogueNames(): string[] {
  const names = TREE.flatMap((parent) => [
    parent.name,
    ...parent.children.flatMap((child) => [child.name, ...child.kinds]),
  ]);
  return [...names, ...QUALIFIER.filter(Boolean), ...FOR_WHOM.filter(Boolean)];
}

/**
 * Single-edit typos of every word (of at least four letters) of a category or service name, one of
 * each edit kind, then each name of several words with one of its words mistyped; the issue's own
 * examples first. Deterministic; none is itself a word of the catalogue.
 */
export function typoQueries(): TypoQuery[] {
  const random = prng(20_260_416);
  const names = catalogueNames();
  const vocabulary = new Set(names.flatMap(wordsOf));
  const queries: TypoQuery[] = [
    { query: 'sprts', word: 'sports', edit: 'deletion', phrase: false },
    { query: 'masage', word: 'massage', edit: 'deletion', phrase: false },
    { query: 'yogq', word: 'yoga', edit: 'substitution', phrase: false },
    { query: 'pilats', word: 'pilates', edit: 'deletion', phrase: false },
  ];
  const seen = new Set(queries.map((typo) => typo.query));
  const add = (typo: TypoQuery, typoWord: string) => {
    if (vocabulary.has(typoWord) || seen.has(typo.query)) return;
    seen.add(typo.query);
    queries.push(typo);
  };
  for (const word of [...vocabulary].filter((w) => w.length >= MIN_TYPO_WORD)) {
    for (const edit of EDITS) {
      const typo = misspell(word, edit, random);
      add({ query: typo, word, edit, phrase: false }, typo);
    }
  }
  for (const name of new Set(names.map((n) => n.toLowerCase().trim()))) {
    const words = name.split(' ');
    const long = words.map((w, i) => ({ w, i })).filter(({ w }) => /^[a-z]+$/.test(w) && w.length >= MIN_TYPO_WORD);
    if (words.length < 2 || long.length === 0) continue;
    const { w, i } = random.pick(long);
    const edit = random.pick(EDITS);
    const typo = misspell(w, edit, random);
    add({ query: words.map((x, j) => (j === i ? typo : x)).join(' '), word: w, edit, phrase: true }, typo);
  }
  return queries;
}

/**
 * Data for the marketplace bench: a category tree, verified providers (users with role
 * `provider`) with Mon–Fri 09:00–17:00 Europe/London schedules, 10,000 services with varied
 * names, descriptions, cities and prices, and customers who sign in over HTTP. Written straight
 * into the database the server will open, before it starts. Deterministic (seeded PRNG).
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../src/infra/db/client.js';
import { uuidv7 } from '../src/infra/ids.js';
import { availability } from '../src/modules/bookings/bookings.tables.js';
import { categories, providers, services } from '../src/modules/catalog/catalog.tables.js';
import { createCatalogRepository } from '../src/modules/catalog/index.js';
import { users } from '../src/modules/identity/identity.tables.js';
import { hashPassword } from '../src/modules/identity/passwords.js';

export const CUSTOMER_PASSWORD = 'bench-marketplace-customer-2026';
export const customerEmail = (i: number) => `bench-customer-${i}@bench.care`;

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
      email: `bench-provider-${i}@bench.care`,
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
  await insertChunked(serviceRows, 500, (chunk) => db.insert(services).values(chunk));
  const repository = createCatalogRepository();
  for (const leaf of leaves) await repository.refreshSearchTextOfCategory(db, leaf.id);

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

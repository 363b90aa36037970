import { randomBytes } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
// Seed data only: provider owners are demo accounts nobody signs in to (random passwords).
import { users } from '../identity/identity.tables.js';
import { hashPassword } from '../identity/index.js';
import { createCatalogRepository } from './catalog.repository.js';
import { categories, providers, services, type Verification } from './catalog.tables.js';

const CATEGORIES: { slug: string; name: string; parent?: string }[] = [
  { slug: 'massage', name: 'Massage' },
  { slug: 'sports-massage', name: 'Sports massage', parent: 'massage' },
  { slug: 'relaxation-massage', name: 'Relaxation massage', parent: 'massage' },
  { slug: 'yoga-pilates', name: 'Yoga & pilates' },
  { slug: 'nutrition-coaching', name: 'Nutrition coaching' },
  { slug: 'skin-care', name: 'Skin care' },
  { slug: 'physiotherapy', name: 'Physiotherapy' },
  { slug: 'mental-wellbeing', name: 'Mental wellbeing' },
];

interface SeedService {
  name: string;
  description: string;
  category: string;
  minutes: number;
  price: number;
  /** Paid online at booking, with its cancellation policy. */
  prepaid?: { freeCancelHours: number; lateCancelFeeBps: number };
}

interface SeedProvider {
  /** The owner's email: how the bookings seeder finds a provider. */
  email: string;
  displayName: string;
  bio: string;
  city: string;
  country: string;
  languages: string[];
  timeZone: string;
  currency: string;
  verification: Verification;
  autoConfirm: boolean;
  /** Onboarded for payouts (the payments seeder gives it its account): may sell prepaid services. */
  payoutsEnabled?: boolean;
  services: SeedService[];
}

export const DEMO_PROVIDERS: SeedProvider[] = [
  {
    email: 'provider@demo.care',
    displayName: 'Demo Provider Wellness',
    bio: 'Sports and relaxation massage in central London.',
    city: 'London',
    country: 'GB',
    languages: ['en'],
    timeZone: 'Europe/London',
    currency: 'GBP',
    verification: 'verified',
    // Confirms by hand, so the demo walks the provider's confirm step (its bookings wait as `pending`).
    autoConfirm: false,
    payoutsEnabled: true,
    services: [
      {
        name: 'Sports massage',
        description: 'Deep tissue work for runners and lifters.',
        category: 'sports-massage',
        minutes: 60,
        price: 6500,
      },
      {
        name: 'Relaxation massage',
        description: 'Slow Swedish massage to unwind.',
        category: 'relaxation-massage',
        minutes: 60,
        price: 5500,
      },
      {
        name: 'Back and shoulders',
        description: 'Focused 30-minute session for desk workers.',
        category: 'massage',
        minutes: 30,
        price: 3500,
      },
      {
        name: 'Deep tissue massage, paid online',
        description: 'Paid when you book: free cancellation until 48 hours before, then half the price is kept.',
        category: 'sports-massage',
        minutes: 60,
        price: 7000,
        prepaid: { freeCancelHours: 48, lateCancelFeeBps: 5000 },
      },
    ],
  },
  {
    email: 'thames.physio@providers.demo.care',
    displayName: 'Thames Physio Clinic',
    bio: 'Chartered physiotherapists for sports injuries and back pain.',
    city: 'London',
    country: 'GB',
    languages: ['en', 'fr'],
    timeZone: 'Europe/London',
    currency: 'GBP',
    verification: 'verified',
    autoConfirm: false,
    services: [
      {
        name: 'Physiotherapy assessment',
        description: 'First visit: assessment and a home exercise plan.',
        category: 'physiotherapy',
        minutes: 45,
        price: 7000,
      },
      {
        name: 'Follow-up physiotherapy',
        description: 'Treatment and progress review.',
        category: 'physiotherapy',
        minutes: 30,
        price: 5000,
      },
    ],
  },
  {
    email: 'northern.yoga@providers.demo.care',
    displayName: 'Northern Flow Yoga',
    bio: 'Small-group and private yoga and pilates in Manchester.',
    city: 'Manchester',
    country: 'GB',
    languages: ['en'],
    timeZone: 'Europe/London',
    currency: 'GBP',
    verification: 'verified',
    autoConfirm: true,
    services: [
      {
        name: 'Private yoga class',
        description: 'One-to-one vinyasa or hatha, all levels.',
        category: 'yoga-pilates',
        minutes: 60,
        price: 4500,
      },
      {
        name: 'Reformer pilates',
        description: 'Core strength on the reformer.',
        category: 'yoga-pilates',
        minutes: 50,
        price: 4000,
      },
      {
        name: 'Mindfulness session',
        description: 'Guided breathing and meditation.',
        category: 'mental-wellbeing',
        minutes: 45,
        price: 3000,
      },
    ],
  },
  {
    email: 'savannah.spa@providers.demo.care',
    displayName: 'Savannah Spa Nairobi',
    bio: 'Massage and skin care in Westlands.',
    city: 'Nairobi',
    country: 'KE',
    languages: ['en', 'sw'],
    timeZone: 'Africa/Nairobi',
    currency: 'KES',
    verification: 'verified',
    autoConfirm: false,
    services: [
      {
        name: 'Hot stone massage',
        description: 'Warm basalt stones and long strokes.',
        category: 'relaxation-massage',
        minutes: 90,
        price: 650000,
      },
      {
        name: 'Hydrating facial',
        description: 'Cleanse, exfoliate and hydrate.',
        category: 'skin-care',
        minutes: 60,
        price: 450000,
      },
      {
        name: 'Sports recovery massage',
        description: 'For athletes after training or races.',
        category: 'sports-massage',
        minutes: 60,
        price: 550000,
      },
    ],
  },
  {
    email: 'lishe.bora@providers.demo.care',
    displayName: 'Lishe Bora Nutrition',
    bio: 'Registered nutritionist: everyday eating plans that fit Kenyan kitchens.',
    city: 'Nairobi',
    country: 'KE',
    languages: ['en', 'sw'],
    timeZone: 'Africa/Nairobi',
    currency: 'KES',
    verification: 'verified',
    autoConfirm: true,
    services: [
      {
        name: 'Nutrition consultation',
        description: 'Review of your eating habits and a simple plan.',
        category: 'nutrition-coaching',
        minutes: 60,
        price: 300000,
      },
      {
        name: 'Follow-up coaching',
        description: 'Check-in and plan adjustments.',
        category: 'nutrition-coaching',
        minutes: 30,
        price: 150000,
      },
    ],
  },
  {
    email: 'glow.lagos@providers.demo.care',
    displayName: 'Glow Skin Studio Lagos',
    bio: 'Skin care for every skin type on Victoria Island.',
    city: 'Lagos',
    country: 'NG',
    languages: ['en', 'yo'],
    timeZone: 'Africa/Lagos',
    currency: 'NGN',
    verification: 'verified',
    autoConfirm: false,
    services: [
      {
        name: 'Signature facial',
        description: 'Deep cleanse and glow treatment.',
        category: 'skin-care',
        minutes: 60,
        price: 2500000,
      },
      {
        name: 'Acne care session',
        description: 'Gentle extraction and a home routine.',
        category: 'skin-care',
        minutes: 45,
        price: 2000000,
      },
      {
        name: 'Relaxing body massage',
        description: 'Full body massage with shea butter.',
        category: 'relaxation-massage',
        minutes: 60,
        price: 3000000,
      },
    ],
  },
  {
    email: 'calm.minds@providers.demo.care',
    displayName: 'Calm Minds Lagos',
    bio: 'Talking support and stress management.',
    city: 'Lagos',
    country: 'NG',
    languages: ['en', 'ig'],
    timeZone: 'Africa/Lagos',
    currency: 'NGN',
    verification: 'verified',
    autoConfirm: false,
    services: [
      {
        name: 'Stress management session',
        description: 'Practical tools for everyday stress.',
        category: 'mental-wellbeing',
        minutes: 50,
        price: 2500000,
      },
      {
        name: 'Guided meditation',
        description: 'Breathing and relaxation practice.',
        category: 'mental-wellbeing',
        minutes: 30,
        price: 1200000,
      },
    ],
  },
  {
    email: 'new.provider@providers.demo.care',
    displayName: 'Fresh Start Physio',
    bio: 'Awaiting verification.',
    city: 'Manchester',
    country: 'GB',
    languages: ['en'],
    timeZone: 'Europe/London',
    currency: 'GBP',
    verification: 'pending',
    autoConfirm: false,
    services: [
      {
        name: 'Home physiotherapy visit',
        description: 'Physiotherapy in your home.',
        category: 'physiotherapy',
        minutes: 60,
        price: 8000,
      },
    ],
  },
];

/** The provider owned by the account with this email (e.g. a DEMO_PROVIDERS email), for other seeders. */
export async function seededProviderId(db: Db, ownerEmail: string): Promise<string | undefined> {
  const [row] = await db
    .select({ id: providers.id })
    .from(providers)
    .innerJoin(users, eq(users.id, providers.userId))
    .where(eq(users.email, ownerEmail))
    .limit(1);
  return row?.id;
}

/** Every category, parents before children (one insert and one select per level); returns ids by slug. */
async function seedCategories(db: Db, now: Date): Promise<Map<string, string>> {
  const categoryIds = new Map<string, string>();
  let pending = CATEGORIES;
  while (pending.length > 0) {
    const level = pending.filter((category) => !category.parent || categoryIds.has(category.parent));
    // A parent that is not in the list: its children are made without one, as before.
    const batch = level.length > 0 ? level : pending;
    await db
      .insert(categories)
      .values(
        batch.map((category) => ({
          id: uuidv7(),
          parentId: category.parent ? (categoryIds.get(category.parent) ?? null) : null,
          slug: category.slug,
          name: category.name,
          createdAt: now,
          updatedAt: now,
        })),
      )
      .onConflictDoNothing({ target: categories.slug });
    const rows = await db
      .select({ id: categories.id, slug: categories.slug })
      .from(categories)
      .where(
        inArray(
          categories.slug,
          batch.map((category) => category.slug),
        ),
      );
    for (const row of rows) categoryIds.set(row.slug, row.id);
    pending = pending.filter((category) => !batch.includes(category));
  }
  return categoryIds;
}

/** The owner account of every demo provider, existing or made now; returns user ids by email. */
async function seedOwners(db: Db, now: Date): Promise<Map<string, string>> {
  const emails = DEMO_PROVIDERS.map((seed) => seed.email);
  const existing = await db
    .select({ id: users.id, email: users.email })
    .from(users)
    .where(inArray(users.email, emails));
  const owners = new Map(existing.map((row) => [row.email, row.id]));
  const missing = DEMO_PROVIDERS.filter((seed) => !owners.has(seed.email));
  if (missing.length === 0) return owners;
  // One unguessable password for every owner made here: nobody signs in with it, and hashing
  // one per owner added ~20 ms each to a first start.
  const passwordHash = await hashPassword(randomBytes(24).toString('base64url'));
  const created = await db
    .insert(users)
    .values(
      missing.map((seed) => ({
        id: uuidv7(),
        email: seed.email,
        passwordHash,
        name: seed.displayName,
        role: 'provider' as const,
        timeZone: seed.timeZone,
        passwordChangedAt: now,
        createdAt: now,
        updatedAt: now,
      })),
    )
    .onConflictDoNothing({ target: users.email })
    .returning({ id: users.id, email: users.email });
  for (const row of created) owners.set(row.email, row.id);
  return owners;
}

/** A provider for each owner that has none yet; returns the ones made now, with their seed. */
async function seedProviders(
  db: Db,
  owners: Map<string, string>,
  now: Date,
): Promise<{ providerId: string; seed: SeedProvider }[]> {
  const ownerIds = [...owners.values()];
  const taken = await db
    .select({ userId: providers.userId })
    .from(providers)
    .where(inArray(providers.userId, ownerIds));
  const hasProvider = new Set(taken.map((row) => row.userId));
  const made = DEMO_PROVIDERS.flatMap((seed) => {
    const userId = owners.get(seed.email);
    return userId && !hasProvider.has(userId) ? [{ providerId: uuidv7(), userId, seed }] : [];
  });
  if (made.length === 0) return [];
  await db.insert(providers).values(
    made.map(({ providerId, userId, seed }) => ({
      id: providerId,
      userId,
      displayName: seed.displayName,
      bio: seed.bio,
      city: seed.city,
      country: seed.country,
      languages: seed.languages,
      timeZone: seed.timeZone,
      verification: seed.verification,
      autoConfirm: seed.autoConfirm,
      payoutsEnabled: seed.payoutsEnabled ?? false,
      createdAt: now,
      updatedAt: now,
    })),
  );
  return made.map(({ providerId, seed }) => ({ providerId, seed }));
}

/** The services of the providers made now, and their search documents. */
async function seedServices(
  db: Db,
  made: { providerId: string; seed: SeedProvider }[],
  categoryIds: Map<string, string>,
  now: Date,
): Promise<void> {
  const rows = made.flatMap(({ providerId, seed }) =>
    seed.services.flatMap((offered) => {
      const categoryId = categoryIds.get(offered.category);
      if (!categoryId) return [];
      return [
        {
          id: uuidv7(),
          providerId,
          categoryId,
          name: offered.name,
          description: offered.description,
          durationMinutes: offered.minutes,
          bufferMinutes: 15,
          priceMinor: offered.price,
          currency: seed.currency,
          ...(offered.prepaid ? { paymentMode: 'required' as const, ...offered.prepaid } : {}),
          createdAt: now,
          updatedAt: now,
        },
      ];
    }),
  );
  if (rows.length === 0) return;
  await db.insert(services).values(rows);
  // The document (and typo vocabulary) the service keeps: name, description, category, provider.
  await createCatalogRepository().refreshSearchTextOfProviders(
    db,
    made.map(({ providerId }) => providerId),
  );
}

export const catalogSeeder: Seeder = {
  name: 'catalog: categories, demo providers and services',
  // A few statements for the whole catalogue, not several per row: on the embedded database
  // each statement costs a first start several milliseconds.
  async run(db) {
    const now = new Date();
    const categoryIds = await seedCategories(db, now);
    const owners = await seedOwners(db, now);
    const made = await seedProviders(db, owners, now);
    await seedServices(db, made, categoryIds, now);
  },
};

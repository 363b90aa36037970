import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Db } from '../../infra/db/client.js';
import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
// Seed data only: provider owners are demo accounts nobody signs in to (random passwords).
import { users } from '../identity/identity.tables.js';
import { hashPassword } from '../identity/index.js';
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
    autoConfirm: true,
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

export const catalogSeeder: Seeder = {
  name: 'catalog: categories, demo providers and services',
  async run(db) {
    const now = new Date();
    const categoryIds = new Map<string, string>();
    for (const category of CATEGORIES) {
      await db
        .insert(categories)
        .values({
          id: uuidv7(),
          parentId: category.parent ? (categoryIds.get(category.parent) ?? null) : null,
          slug: category.slug,
          name: category.name,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing({ target: categories.slug });
      const [row] = await db.select({ id: categories.id }).from(categories).where(eq(categories.slug, category.slug));
      if (row) categoryIds.set(category.slug, row.id);
    }

    for (const seed of DEMO_PROVIDERS) {
      let [owner] = await db.select({ id: users.id }).from(users).where(eq(users.email, seed.email));
      if (!owner) {
        [owner] = await db
          .insert(users)
          .values({
            id: uuidv7(),
            email: seed.email,
            passwordHash: await hashPassword(randomBytes(24).toString('base64url')),
            name: seed.displayName,
            role: 'provider',
            timeZone: seed.timeZone,
            passwordChangedAt: now,
            createdAt: now,
            updatedAt: now,
          })
          .onConflictDoNothing({ target: users.email })
          .returning({ id: users.id });
      }
      if (!owner) continue;
      const existing = await db.select({ id: providers.id }).from(providers).where(eq(providers.userId, owner.id));
      if (existing.length > 0) continue;
      const providerId = uuidv7();
      await db.insert(providers).values({
        id: providerId,
        userId: owner.id,
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
      });
      for (const offered of seed.services) {
        const categoryId = categoryIds.get(offered.category);
        if (!categoryId) continue;
        await db.insert(services).values({
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
        });
      }
      // Same document the service keeps: name, description, category, provider.
      await db.execute(sql`
        update ${services} set search_text = concat_ws(' ', ${services.name}, nullif(${services.description}, ''), c.name, p.display_name)
        from ${categories} c, ${providers} p
        where c.id = ${services.categoryId} and p.id = ${services.providerId} and ${services.providerId} = ${providerId}`);
    }
  },
};

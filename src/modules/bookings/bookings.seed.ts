import { and, eq, sql } from 'drizzle-orm';
import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
import { providers, services } from '../catalog/catalog.tables.js';
import { seededProviderId } from '../catalog/index.js';
import { users } from '../identity/identity.tables.js';
import { visitSpan } from './bookings.slots.js';
import { availability, bookings, reviews } from './bookings.tables.js';

const WEEKDAYS = [1, 2, 3, 4, 5];
const DAY_MS = 86_400_000;
const SAMPLE_REVIEWS = [
  { rating: 5, text: 'Calm, careful and on time. Would book again.' },
  { rating: 4, text: 'Very good session; the room was a little cold.' },
  { rating: 5, text: 'Explained everything clearly. Thank you!' },
];

/** The note of the demo visit that waits to be completed and reviewed (how the seed finds it again). */
export const VISIT_TO_COMPLETE_NOTE = 'Demo: yesterday’s visit. The provider marks it completed, then you review it.';

/**
 * Demo schedules (Mon–Fri 09:00–17:00, lunch 12:00–13:00, in each provider's zone) for every
 * verified provider without one, for the first providers a few completed visits of the demo
 * user with reviews, so slots and reviews show after `npm start`, and yesterday's confirmed visit of
 * the demo user with the demo provider, which the provider can complete and the user then review.
 * Idempotent: providers that already have a schedule or reviews are left alone, and the visit to
 * complete is made once.
 */
export const bookingsSeeder: Seeder = {
  name: 'bookings',
  async run(db) {
    const now = new Date();
    const verified = await db.select().from(providers).where(eq(providers.verification, 'verified'));
    for (const provider of verified) {
      await db
        .insert(availability)
        .values({
          providerId: provider.id,
          timeZone: provider.timeZone,
          weekly: WEEKDAYS.map((day) => ({ day_of_week: day, start: '09:00', end: '17:00' })),
          breaks: WEEKDAYS.map((day) => ({ day_of_week: day, start: '12:00', end: '13:00' })),
          exceptions: [],
          updatedAt: now,
        })
        .onConflictDoNothing();
    }
    const [customer] = await db.select().from(users).where(eq(users.email, 'user@demo.care')).limit(1);
    if (!customer) return;
    for (const [index, provider] of verified.slice(0, SAMPLE_REVIEWS.length).entries()) {
      const [existing] = await db.select().from(reviews).where(eq(reviews.providerId, provider.id)).limit(1);
      if (existing) continue;
      const [service] = await db
        .select()
        .from(services)
        .where(and(eq(services.providerId, provider.id), eq(services.isActive, true)))
        .limit(1);
      if (!service) continue;
      const sample = SAMPLE_REVIEWS[index] as (typeof SAMPLE_REVIEWS)[number];
      // A past visit at 10:00 UTC, (index + 1) weeks ago: before any bookable slot, so nothing overlaps.
      const visit = pastVisit(customer.id, service, (index + 1) * 7, now);
      const { endsAt } = visit;
      await db.insert(bookings).values({ ...visit, status: 'completed', updatedAt: endsAt });
      await db.insert(reviews).values({
        id: uuidv7(),
        bookingId: visit.id,
        providerId: provider.id,
        customerId: customer.id,
        rating: sample.rating,
        text: sample.text,
        visible: true,
        createdAt: endsAt,
        updatedAt: endsAt,
      });
      // The provider's rating, as catalog.applyReview keeps it.
      await db
        .update(providers)
        .set({
          ratingSum: sql`${providers.ratingSum} + ${sample.rating}`,
          ratingCount: sql`${providers.ratingCount} + 1`,
          ratingAverage: sql`round((${providers.ratingSum} + ${sample.rating})::numeric / (${providers.ratingCount} + 1), 2)`,
        })
        .where(eq(providers.id, provider.id));
    }
    await seedVisitToComplete(db, customer.id, now);
  },
};

/** Yesterday at 10:00 UTC, confirmed and not completed: the completion and review steps can be walked now. */
async function seedVisitToComplete(db: Parameters<Seeder['run']>[0], customerId: string, now: Date): Promise<void> {
  const providerId = await seededProviderId(db, 'provider@demo.care');
  if (!providerId) return;
  const [made] = await db
    .select({ id: bookings.id })
    .from(bookings)
    .where(and(eq(bookings.customerId, customerId), eq(bookings.note, VISIT_TO_COMPLETE_NOTE)))
    .limit(1);
  if (made) return;
  const [service] = await db
    .select()
    .from(services)
    .where(and(eq(services.providerId, providerId), eq(services.isActive, true), eq(services.paymentMode, 'at_visit')))
    .limit(1);
  if (!service) return;
  const visit = pastVisit(customerId, service, 1, now);
  await db.insert(bookings).values({ ...visit, status: 'confirmed', note: VISIT_TO_COMPLETE_NOTE });
}

/** A visit of `service` at 10:00 UTC `daysAgo` days ago, booked three days before it. */
function pastVisit(
  customerId: string,
  service: typeof services.$inferSelect,
  daysAgo: number,
  now: Date,
): Omit<typeof bookings.$inferInsert, 'status'> & { id: string; endsAt: Date } {
  const startsAt = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - daysAgo * DAY_MS + 10 * 3_600_000);
  const span = visitSpan(startsAt, service);
  const createdAt = new Date(startsAt.getTime() - 3 * DAY_MS);
  return {
    id: uuidv7(),
    customerId,
    providerId: service.providerId,
    serviceId: service.id,
    ...span,
    priceMinor: service.priceMinor,
    currency: service.currency,
    createdAt,
    updatedAt: createdAt,
  };
}

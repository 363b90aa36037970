import { eq } from 'drizzle-orm';
import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
import { categories } from '../catalog/catalog.tables.js';
import { users } from '../identity/identity.tables.js';
import { providerApplications } from './onboarding.tables.js';

const APPLICANT = 'new.provider@providers.demo.care';

/**
 * The demo's review queue: the provider still waiting for verification (the catalog seed's
 * "Fresh Start Physio") has a pending application, so an admin can walk approve or reject
 * (`/api/v1/admin/provider-applications?status=pending`). Made once.
 */
export const onboardingSeeder: Seeder = {
  name: 'onboarding: a pending provider application',
  async run(db) {
    const [applicant] = await db.select({ id: users.id }).from(users).where(eq(users.email, APPLICANT)).limit(1);
    if (!applicant) return;
    const [existing] = await db
      .select({ id: providerApplications.id })
      .from(providerApplications)
      .where(eq(providerApplications.userId, applicant.id))
      .limit(1);
    if (existing) return;
    const [category] = await db
      .select({ id: categories.id })
      .from(categories)
      .where(eq(categories.slug, 'physiotherapy'))
      .limit(1);
    const now = new Date();
    await db.insert(providerApplications).values({
      id: uuidv7(),
      userId: applicant.id,
      businessName: 'Fresh Start Physio',
      bio: 'Home physiotherapy visits across Manchester; chartered physiotherapist since 2015.',
      city: 'Manchester',
      country: 'GB',
      languages: ['en'],
      categoryIds: category ? [category.id] : [],
      documentMediaIds: [],
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    });
  },
};

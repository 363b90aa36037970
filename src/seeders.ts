import type { Seeder } from './infra/db/seed.js';
import { bookingsSeeder } from './modules/bookings/index.js';
import { catalogSeeder } from './modules/catalog/index.js';
import { consentSeeder } from './modules/consent/index.js';
import { contentSeeder } from './modules/content/index.js';
import { identitySeeder } from './modules/identity/index.js';

/**
 * Demo data, in the order it is created. Each module appends its seeder here as it lands
 * (identity adds demo logins, catalogue adds providers, …).
 */
export const seeders: Seeder[] = [identitySeeder, consentSeeder, contentSeeder, catalogSeeder, bookingsSeeder];

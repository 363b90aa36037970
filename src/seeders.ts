import type { Seeder } from './infra/db/seed.js';

/**
 * Demo data, in the order it is created. Each module appends its seeder here as it lands
 * (identity adds demo logins, catalogue adds providers, …).
 */
export const seeders: Seeder[] = [];

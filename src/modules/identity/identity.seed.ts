import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
import type { Role } from '../../shared/actor.js';
import { users } from './identity.tables.js';
import { hashPassword } from './passwords.js';

// Demo logins, printed at first start. Only ever seeded outside production.
const DEMO_ACCOUNTS: { role: Role; email: string; password: string; name: string }[] = [
  { role: 'admin', email: 'admin@demo.care', password: 'demo-admin-2026', name: 'Demo Admin' },
  { role: 'user', email: 'user@demo.care', password: 'demo-user-2026', name: 'Demo User' },
  { role: 'provider', email: 'provider@demo.care', password: 'demo-provider-2026', name: 'Demo Provider' },
];

export const identitySeeder: Seeder = {
  name: 'identity: demo admin, user and provider',
  logins: DEMO_ACCOUNTS.map(({ role, email, password }) => ({ role, email, password })),
  async run(db) {
    const now = new Date();
    for (const account of DEMO_ACCOUNTS) {
      await db
        .insert(users)
        .values({
          id: uuidv7(),
          email: account.email,
          passwordHash: await hashPassword(account.password),
          name: account.name,
          role: account.role,
          passwordChangedAt: now,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing({ target: users.email });
    }
  },
};

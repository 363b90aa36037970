import type { Seeder } from '../../infra/db/seed.js';
import { uuidv7 } from '../../infra/ids.js';
import type { Role } from '../../shared/actor.js';
import { users } from './identity.tables.js';

/**
 * Demo logins, printed at first start. Only ever seeded outside production. Each `passwordHash` is
 * the argon2id hash of its `password` (OWASP parameters, as passwords.ts hashes), made once
 * beforehand: hashing takes ~20 ms of a first start per account, and a sign-in checks a stored
 * hash the same way whoever made it (test/helpers/demo.ts signs in with each).
 */
const DEMO_ACCOUNTS: { role: Role; email: string; password: string; passwordHash: string; name: string }[] = [
  {
    role: 'admin',
    email: 'admin@demo.care',
    password: 'demo-admin-2026',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$1AL9aJjFfSnyDRK4hxKzSQ$TswKdvJ65x3dXBdTeJ2iNNy22SjY4nRZAQWvbFKYc5E',
    name: 'Demo Admin',
  },
  {
    role: 'user',
    email: 'user@demo.care',
    password: 'demo-user-2026',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$fzgUklXX0Hp1sLuH4A1yMQ$9zKZRzYPVOqfiNp/kCXFxeYGt+tQRTcezLGxuY0GN90',
    name: 'Demo User',
  },
  {
    role: 'provider',
    email: 'provider@demo.care',
    password: 'demo-provider-2026',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$EhhgzY3Rh1FRqMsyebSiNA$pBjpmiHenQXdRQedgGlAWExTLHzpL08lOwVMgNjyzW4',
    name: 'Demo Provider',
  },
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
          passwordHash: account.passwordHash,
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

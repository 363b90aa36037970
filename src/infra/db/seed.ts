import { eq } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Db } from './client.js';
import { appMeta } from './meta.tables.js';

export interface DemoLogin {
  role: string;
  email: string;
  password: string;
}

/**
 * Demo data one module contributes. `run` must be idempotent (insert … on conflict do
 * nothing, or look before writing): `npm run seed` may run it again at any time.
 */
export interface Seeder {
  name: string;
  run(db: Db): Promise<void>;
  /** Logins this seeder creates, printed at start-up so a new user can sign in. */
  logins?: DemoLogin[];
}

const SEEDED_KEY = 'demo_seeded_at';

export async function isSeeded(db: Db): Promise<boolean> {
  const rows = await db.select().from(appMeta).where(eq(appMeta.key, SEEDED_KEY)).limit(1);
  return rows.length > 0;
}

export class SeedRefusedError extends Error {
  override name = 'SeedRefusedError';
}

/** Runs every seeder in order, each in its own transaction, then records that demo data exists. */
export async function runSeeders(
  db: Db,
  seeders: Seeder[],
  deps: { clock: Clock; logger: Logger; isProduction: boolean },
): Promise<void> {
  if (deps.isProduction) throw new SeedRefusedError('Refusing to seed demo data when NODE_ENV=production');
  for (const seeder of seeders) {
    await db.transaction((tx) => seeder.run(tx));
    deps.logger.info({ seeder: seeder.name }, 'seeded');
  }
  const now = deps.clock.now();
  await db
    .insert(appMeta)
    .values({ key: SEEDED_KEY, value: now.toISOString(), updatedAt: now })
    .onConflictDoUpdate({ target: appMeta.key, set: { value: now.toISOString(), updatedAt: now } });
}

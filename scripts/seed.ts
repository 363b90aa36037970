// npm run seed: (re)creates the demo data, idempotently. Refused when NODE_ENV=production.
// `npm run seed -- --no-history` leaves out the synthetic analytics history (as SEED_ANALYTICS_HISTORY=false does).
import { buildApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { systemClock } from '../src/infra/clock.js';
import { runSeeders, SeedRefusedError } from '../src/infra/db/seed.js';
import { openInfrastructure } from '../src/infra/index.js';
import { DEMO_HISTORY_SEEDER } from '../src/modules/analytics/index.js';

const withoutHistory = process.argv.slice(2).includes('--no-history');

try {
  const config = loadConfig();
  if (config.isProduction) throw new SeedRefusedError('Refusing to seed demo data when NODE_ENV=production');
  // The modules say what demo data they have; building the app (without listening) collects it.
  const infrastructure = await openInfrastructure(config);
  const app = await buildApp({ config, ...infrastructure });
  const seeders = app.platform.seeders.filter((seeder) => !(withoutHistory && seeder.name === DEMO_HISTORY_SEEDER));
  try {
    await runSeeders(app.platform.db, seeders, {
      clock: systemClock,
      logger: infrastructure.logger,
      isProduction: config.isProduction,
    });
  } finally {
    await app.close();
  }
  const logins = seeders.flatMap((seeder) => seeder.logins ?? []);
  const history = seeders.some((seeder) => seeder.name === DEMO_HISTORY_SEEDER) ? 'with' : 'without';
  process.stdout.write(
    `Demo data seeded (${seeders.length} seeders, ${history} the synthetic analytics history).\n${logins.map((l) => `  ${l.role}: ${l.email} / ${l.password}`).join('\n')}\n`,
  );
} catch (error) {
  const known = error instanceof ConfigError || error instanceof SeedRefusedError;
  process.stderr.write(`${known ? (error as Error).message : `Seeding failed: ${String(error)}`}\n`);
  process.exit(1);
}

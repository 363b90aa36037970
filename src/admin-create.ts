// npm run admin:create -- --email a@b.c [--password …] (node dist/admin-create.js in production):
// creates an admin, or promotes an existing account (audited). For real deployments, which have no demo data.
import { parseArgs } from 'node:util';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { AppError } from './errors.js';
import { openInfrastructure } from './infra/index.js';

const { values } = parseArgs({ options: { email: { type: 'string' }, password: { type: 'string' } } });
if (!values.email) {
  process.stderr.write('Usage: npm run admin:create -- --email <email> [--password <password>]\n');
  process.exit(2);
}
try {
  const config = loadConfig({ ...process.env, WORKERS_ENABLED: 'false', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const app = await buildApp({ config, ...(await openInfrastructure(config)) });
  try {
    const result = await app.platform.services.identity.createOrPromoteAdmin(
      { email: values.email, password: values.password },
      { ip: null, correlationId: 'cli:admin:create' },
    );
    process.stdout.write(`${result.created ? 'Created admin' : 'Admin'} ${result.user.email} (id ${result.user.id})\n`);
  } finally {
    await app.close();
  }
} catch (error) {
  const message = error instanceof ConfigError || error instanceof AppError ? error.message : String(error);
  process.stderr.write(`admin:create failed: ${message}\n`);
  process.exit(1);
}

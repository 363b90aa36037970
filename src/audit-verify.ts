// npm run audit:verify (node dist/audit-verify.js in production): re-walks the audit hash chain;
// exits 1 and names the first bad row.
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { openInfrastructure } from './infra/index.js';

const config = loadConfig({ ...process.env, WORKERS_ENABLED: 'false', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const app = await buildApp({ config, ...(await openInfrastructure(config)) });
try {
  const result = await app.platform.services.audit.verify();
  if (result.valid) {
    process.stdout.write(`Audit trail intact: ${result.checked} rows verified.\n`);
  } else {
    process.stdout.write(
      `Audit trail BROKEN after ${result.checked} good rows: row ${result.broken?.seq}` +
        `${result.broken?.id ? ` (id ${result.broken.id})` : ''}: ${result.broken?.reason}\n`,
    );
    process.exitCode = 1;
  }
} finally {
  await app.close();
}

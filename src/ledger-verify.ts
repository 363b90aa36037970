// npm run ledger:verify (node dist/ledger-verify.js in production): checks that every ledger entry
// balances and that captures and succeeded refunds each have exactly one entry for their amount;
// exits 1 and lists what is wrong.
import { ConfigError, loadConfig } from './config.js';
import { openInfrastructure } from './infra/index.js';
import { verifyLedger } from './modules/payments/payments.ledger.js';

let infrastructure: Awaited<ReturnType<typeof openInfrastructure>> | undefined;
try {
  const config = loadConfig({ ...process.env, WORKERS_ENABLED: 'false', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  infrastructure = await openInfrastructure(config);
  const result = await verifyLedger(infrastructure.database.db);
  if (result.ok) {
    process.stdout.write(`Ledger consistent: ${result.entries} entries, ${result.lines} lines verified.\n`);
  } else {
    const { ok: _ok, entries, lines, ...findings } = result;
    process.stdout.write(`Ledger INCONSISTENT (${entries} entries, ${lines} lines; each list shows at most 100):\n`);
    for (const [check, rows] of Object.entries(findings)) {
      if (rows.length > 0) process.stdout.write(`${check}: ${JSON.stringify(rows, null, 2)}\n`);
    }
    process.exitCode = 1;
  }
} catch (error) {
  process.stderr.write(
    `${error instanceof ConfigError ? error.message : `Ledger verification failed: ${String(error)}`}\n`,
  );
  process.exitCode = 1;
} finally {
  if (infrastructure) await Promise.all([infrastructure.database.close(), infrastructure.kv.close()]);
}

// npm run api:types: writes test/helpers/api-types.ts, the TypeScript types of the API, from the
// app's own OpenAPI document (/docs/json). The typed test client reads them; a test checks that
// the file is current, so a route change that is not regenerated fails the suite.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/infra/db/client.js';
import { createMemoryStore } from '../src/infra/kv/memory.js';
import { createLogger } from '../src/infra/logger.js';
import { createMetrics } from '../src/infra/metrics.js';
import { apiTypesSource } from '../test/helpers/api-types-source.js';

// No load shedding: a busy machine (a test run beside it) must not turn the document into a 503.
const config = loadConfig({
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  WORKERS_ENABLED: 'false',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
});
// Building the app reads no table: an empty in-memory database is enough to produce the document.
const database = await openDatabase({ kind: 'pglite', dataDir: 'memory://' });
const app = await buildApp({
  config,
  database,
  kv: createMemoryStore({ now: () => new Date() }),
  logger: createLogger({ level: 'silent' }),
  metrics: createMetrics(),
});
await app.ready();
const target = fileURLToPath(new URL('../test/helpers/api-types.ts', import.meta.url));
writeFileSync(target, await apiTypesSource(app));
await app.close();
process.stdout.write(`wrote ${target}\n`);

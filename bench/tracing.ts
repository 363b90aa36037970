/**
 * `npm run bench:tracing`: what OpenTelemetry tracing and Sentry cost, in one run. Three app
 * processes serve the same route (GET /api/v1/content: the published list, from the database on
 * every request) and are loaded in alternating rounds:
 *
 *   off     neither configured (the default)
 *   otel    OTEL_EXPORTER_OTLP_ENDPOINT set, every trace sampled (OTEL_TRACES_SAMPLER_ARG=1): a
 *           server span and a span per query, batched and posted to a collector on 127.0.0.1 that
 *           reads and discards them
 *   sentry  SENTRY_DSN set, pointing at a stand-in ingest on 127.0.0.1 (successful requests send
 *           nothing: this is the cost of the hooks)
 *
 * Prints req/s and latency of each, and otel/off and sentry/off as the median of per-round
 * ratios; writes bench/results/tracing-otel.json and tracing-sentry.json. Each app has its own
 * embedded database (demo data seeded), or, with BENCH_DATABASE_URL, all three share a scratch
 * PostgreSQL database. Settings: BENCH_CONNECTIONS, BENCH_WARMUP_S, BENCH_DURATION_S, BENCH_ROUNDS.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  BENCH_HOST,
  compare,
  formatComparison,
  loadSettingsFromEnv,
  runBench,
  type ServerProcess,
  writeResult,
} from './lib.js';
import { scenarioAppEnv, scratchDatabase } from './support.js';

const ROUTE = '/api/v1/content';

interface Sink {
  url: string;
  requests: number;
  bytes: number;
  close(): Promise<void>;
}

/** An HTTP endpoint that reads every request body, counts it, and answers 200 `{}`. */
async function startSink(): Promise<Sink> {
  const server: Server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => {
      sink.bytes += chunk.length;
    });
    request.on('end', () => {
      sink.requests += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, BENCH_HOST, resolve));
  const { port } = server.address() as AddressInfo;
  const sink: Sink = {
    url: `http://${BENCH_HOST}:${port}`,
    requests: 0,
    bytes: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return sink;
}

/** Where the three apps keep their data, and how to clean it up. */
async function databaseEnv(workDir: string) {
  const url = process.env.BENCH_DATABASE_URL;
  if (!url) {
    // Its own embedded database per app, each seeded with the same demo content.
    return {
      env: (name: string) => ({ DATA_DIR: join(workDir, `data-${name}`), SEED_DEMO_DATA: 'true' }),
      label: 'embedded PGlite per app, demo data',
      drop: async () => {},
    };
  }
  const scratch = await scratchDatabase(url, 'bench_tracing_', (line) => process.stdout.write(`${line}\n`));
  return {
    env: () => ({ DATABASE_URL: scratch.url }),
    label: 'PostgreSQL (BENCH_DATABASE_URL), one scratch database',
    drop: scratch.drop,
  };
}

await runBench(async (harness) => {
  const settings = loadSettingsFromEnv();
  const workDir = await harness.tempDir('care-bench-tracing-');
  const [collector, ingest] = await Promise.all([startSink(), startSink()]);
  const database = await databaseEnv(workDir);
  try {
    const start = (name: string, extra: Record<string, string>): Promise<ServerProcess> =>
      harness.startServer({
        name,
        entry: 'src/server.ts',
        readyPath: '/api/health/ready',
        stdoutFile: join(workDir, `${name}.log`),
        env: { ...scenarioAppEnv(workDir, database.env(name)), ...extra },
      });
    // One after another: the first one on PostgreSQL applies the migrations.
    const off = await start('off', {});
    const otel = await start('otel', { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_SAMPLER_ARG: '1' });
    const sentry = await start('sentry', {
      SENTRY_DSN: `http://publickey@${new URL(ingest.url).host}/1`,
      SENTRY_ENVIRONMENT: 'bench',
    });
    process.stdout.write(`database: ${database.label}\nroute: GET ${ROUTE}\n`);

    const scenarios = [
      {
        name: 'tracing-otel',
        description: `GET ${ROUTE} with OTLP tracing on (every request sampled, exported) vs off`,
        subject: { label: 'otel', server: otel, path: ROUTE },
        targetPct: 70,
      },
      {
        name: 'tracing-sentry',
        description: `GET ${ROUTE} with Sentry on vs off`,
        subject: { label: 'sentry', server: sentry, path: ROUTE },
        targetPct: 95,
      },
    ];
    for (const scenario of scenarios) {
      process.stdout.write(`\n${scenario.name}\n`);
      const comparison = await compare({ ...scenario, baseline: { label: 'off', server: off, path: ROUTE } }, settings);
      process.stdout.write(`\n${formatComparison(comparison)}\n`);
      process.stdout.write(`results: ${await writeResult(comparison)}\n`);
    }
    process.stdout.write(
      `\ncollector: ${collector.requests} OTLP batches, ${(collector.bytes / 1_048_576).toFixed(1)} MiB of spans` +
        `\nSentry ingest: ${ingest.requests} envelopes\n`,
    );
    await Promise.all([off.stop(), otel.stop(), sentry.stop()]);
  } finally {
    await Promise.all([collector.close(), ingest.close()]);
    await database.drop();
  }
});

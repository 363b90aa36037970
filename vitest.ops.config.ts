import { defineConfig } from 'vitest/config';

// npm run test:cluster and npm run test:faults: real app processes (node dist/server.js) on
// PostgreSQL and Redis. One file at a time: the scenarios measure load, timeouts and signals.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts', 'test/faults/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});

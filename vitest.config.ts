import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real processes on PostgreSQL and Redis: npm run test:cluster and npm run test:faults.
    exclude: ['test/cluster/**', 'test/faults/**', '**/node_modules/**'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Two cores: most test time is waiting (argon2 on the thread pool, timers, child processes).
    maxWorkers: 3,
    // Files share their worker's module graph: importing the app (≈ 3 s a file) happens once
    // per worker instead of once per file; every test still builds its own app and database.
    // Measured on this machine: 352 s isolated, 248 s shared, for the same 50 files.
    isolate: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});

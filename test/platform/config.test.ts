import { describe, expect, it } from 'vitest';
import { ConfigError, EnvSchema, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('has a default for everything but the optional services', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      port: 3000,
      host: '127.0.0.1',
      dataDir: './data',
      pgliteSharedBuffers: '16MB',
      isPostgres: false,
      isRedisConfigured: false,
      rateLimit: { enabled: true, windowMs: 900_000, anonMax: 100, userMax: 1000 },
      shutdownTimeoutMs: 10_000,
      compressionThresholdBytes: 1024,
    });
  });

  it('converts strings to typed values and derives flags', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET: 'a-production-secret-of-at-least-32-chars',
      PORT: '8080',
      RATE_LIMIT_ENABLED: 'false',
      DATABASE_URL: 'postgres://u@db:5432/care',
      REDIS_URL: 'redis://cache:6379',
      CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
    });
    expect(config.isProduction).toBe(true);
    expect(config.port).toBe(8080);
    expect(config.rateLimit.enabled).toBe(false);
    expect(config.isPostgres).toBe(true);
    expect(config.isRedisConfigured).toBe(true);
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  it.each([
    [{ PORT: 'abc' }, /^Invalid configuration: PORT="abc" expected integer/],
    [{ PORT: '70000' }, /^Invalid configuration: PORT=70000 .*65535/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV="staging" must be one of development, production, test/],
    [{ RATE_LIMIT_ENABLED: 'maybe' }, /RATE_LIMIT_ENABLED="maybe" expected boolean/],
    [{ CORS_ORIGINS: 'https://ok.example, nope' }, /CORS_ORIGINS contains "nope"/],
    [{ PGLITE_SHARED_BUFFERS: '16 megabytes' }, /PGLITE_SHARED_BUFFERS="16 megabytes" /],
  ])('stops on %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('requires JWT_SECRET in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required when NODE_ENV=production/);
  });

  it('names a bad secret or URL without echoing its value', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/x' })).toThrow(
      /^Invalid configuration: DATABASE_URL /,
    );
    try {
      loadConfig({ DATABASE_URL: 'mysql://root:hunter2@db/x' });
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
    try {
      loadConfig({ METRICS_TOKEN: 'short' });
    } catch (error) {
      expect((error as Error).message).toMatch(/METRICS_TOKEN /);
      expect((error as Error).message).not.toContain('short"');
    }
  });

  it('documents every variable it reads in .env.example', async () => {
    const { readFile } = await import('node:fs/promises');
    const example = await readFile(new URL('../../.env.example', import.meta.url), 'utf8');
    for (const name of Object.keys(EnvSchema.properties)) expect(example).toContain(name);
  });
});

import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp({ env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_ANON_MAX: '3' } });
});
afterAll(() => t?.close());

it('limits guessing feed tokens per address like any anonymous call (429 RATE_LIMITED with Retry-After)', async () => {
  const guess = (n: number) =>
    t.app.inject({ method: 'GET', url: `/api/v1/calendar/customer.ics?token=${String(n).padStart(43, 'A')}` });
  const statuses: number[] = [];
  for (let n = 0; n < 3; n++) statuses.push((await guess(n)).statusCode);
  expect(statuses).toEqual([404, 404, 404]);
  const limited = await guess(3);
  expect(limited.statusCode).toBe(429);
  expect(limited.json().code).toBe('RATE_LIMITED');
  expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
});

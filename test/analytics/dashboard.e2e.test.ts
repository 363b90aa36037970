import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CURRENCY_EXPONENTS, formatMinor } from '../../src/modules/payments/payments.money.js';
import { createContent } from '../content/helpers.js';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { seedDemoData } from '../helpers/demo.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { HAS_CHROMIUM, launchChromium, openSignedIn as openPage, ready, SKIP_REASON } from './dashboard-browser.js';

if (!HAS_CHROMIUM) console.warn(`SKIPPED: ${SKIP_REASON}`);
const SCREENSHOT = 'test-results/admin-dashboard.png';

interface RevenueAmounts {
  gross_minor: number;
  commission_minor: number;
  refunds_minor: number;
  net_minor: number;
}
interface RevenueSummary {
  from: string;
  to: string;
  days: (RevenueAmounts & { day: string; currency: string })[];
  totals: (RevenueAmounts & { currency: string })[];
}

// One app for the file, listening on a free port for the browser; the plain tests inject.
let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
  await t.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => t?.close());

describe('admin dashboard page', () => {
  it('serves /admin as HTML under a self-only CSP with no inline script or style', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/admin' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['cache-control']).toBe('no-cache');
    const csp = String(res.headers['content-security-policy']);
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "form-action 'none'",
    ]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toContain('unsafe-inline');
    expect(res.body).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(res.body).not.toMatch(/<style|\sstyle=/);
    expect(res.body).toContain('data-testid="login-form"');

    const again = await t.app.inject({
      method: 'GET',
      url: '/admin',
      headers: { 'if-none-match': String(res.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
  });

  it('serves the linked script, stylesheet and icon, cached for good under their content hash', async () => {
    const html = (await t.app.inject({ method: 'GET', url: '/admin' })).body;
    const links = [...html.matchAll(/(?:src|href)="(\/admin\/[\w.]+\?v=[\w-]+)"/g)].map((match) => match[1]!);
    expect(links).toHaveLength(7);
    const types: Record<string, RegExp> = { js: /^text\/javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/ };
    for (const link of links) {
      const res = await t.app.inject({ method: 'GET', url: link });
      expect(res.statusCode, link).toBe(200);
      expect(res.headers['content-type'], link).toMatch(types[link.split('?')[0]!.split('.').pop()!]!);
      expect(res.headers['cache-control'], link).toBe('public, max-age=31536000, immutable');
      expect(res.headers.etag, link).toMatch(/^"[\w-]+"$/);
      expect(res.body.length, link).toBeGreaterThan(100);
    }
    // An old or missing version is revalidated, never pinned.
    const unpinned = await t.app.inject({ method: 'GET', url: '/admin/app.js?v=stale' });
    expect(unpinned.statusCode).toBe(200);
    expect(unpinned.headers['cache-control']).toBe('no-cache');
    expect((await t.app.inject({ method: 'GET', url: '/admin/secrets.json' })).statusCode).toBe(404);
    // A walk up is refused before routing by request inspection.
    const walk = await t.app.inject({ method: 'GET', url: '/admin/..%2fapp.ts' });
    expect(walk.statusCode).toBe(403);
    expect(walk.json().code).toBe('REQUEST_REJECTED');
  });

  it('shows amounts in the decimals the payments module stores them in', async () => {
    // charts.js is the browser's copy of the exponents (the API sends minor units only).
    const charts = await import(new URL('../../src/modules/admin-dashboard/assets/charts.js', import.meta.url).href);
    expect({ ...charts.CURRENCY_EXPONENTS }).toEqual({ ...CURRENCY_EXPONENTS });
    for (const [currency, minor] of [
      ['GBP', 123456],
      ['JPY', 1500],
      ['KWD', 1234],
      ['COP', 990000],
      ['GBP', -650],
    ] as const) {
      const shown: string = charts.moneyFormat(currency)(minor);
      expect(shown.replace(/[^\d.-]/g, ''), shown).toBe(formatMinor(minor, currency));
    }
  });

  it('keeps the page out of the API docs', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(spec.paths).filter((path) => path.startsWith('/admin'))).toEqual([]);
  });
});

// Where Chromium is missing (outside CI) the suite shows up as skipped under the reason, and says so once.
describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'admin dashboard in headless Chromium' : SKIP_REASON, () => {
  let baseUrl: string;
  let browser: Browser;
  let admin: TestUser;
  let member: TestUser;

  let launching: Promise<Browser> | undefined;

  beforeAll(async () => {
    // The browser starts while the data is made.
    launching = launchChromium();
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const [reader, other] = await Promise.all([createUser(t.app), createUser(t.app)]);
    [admin, member] = await Promise.all([createUser(t.app, { role: 'admin' }), createUser(t.app)]);

    // Activity: completed profiles, content views, and client events from a consenting user.
    const inject = async (method: 'GET' | 'PUT' | 'POST', url: string, user: TestUser, payload?: object) => {
      const res = await t.app.inject({ method, url, headers: user.headers, payload });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
      return res;
    };
    const profile = {
      birth_year: 1990,
      gender: 'female',
      country: 'GB',
      region: 'London',
      diet_preference: 'vegan',
      activity_level: 'moderate',
      preferred_language: 'en',
    };
    for (const user of [reader, other]) await inject('PUT', '/api/v1/me/profile', user, profile);
    const article = await createContent(t.app, admin, { status: 'published', title: 'Screening, explained' });
    const tip = await createContent(t.app, admin, { status: 'published', type: 'tip', title: 'Five-minute stretch' });
    for (const viewer of [reader, other, member]) await inject('GET', `/api/v1/content/${article.slug}`, viewer);
    await inject('GET', `/api/v1/content/${tip.slug}`, reader);
    await inject('PUT', '/api/v1/me/consents/analytics', reader, { granted: true });
    const now = Date.now();
    const sent = await inject('POST', '/api/v1/events', reader, {
      events: [
        { name: 'diet_plan_viewed', properties: { personalised: true, items: 3 } },
        { name: 'service_searched', properties: { results: 4, has_query: true } },
        { name: 'slot_viewed', properties: { provider_id: randomUUID(), slots: 5 } },
      ].map((event, index) => ({ ...event, time: new Date(now - index * 1000).toISOString(), device_id: 'e2e-1' })),
    });
    expect(sent.json().data).toMatchObject({ accepted: 3, rejected: [], dropped_no_consent: 0 });
    // The demo data `npm start` seeds: among it, captured payments for the demo's past visits, and
    // the synthetic analytics history (made-up people), which the page says it includes.
    await seedDemoData(t.app, { history: true });
    browser = await launching;
  });

  afterAll(async () => {
    await launching?.then(
      (started) => started.close(),
      () => undefined,
    );
  });

  const openSignedIn = (user: TestUser): Promise<{ page: Page; problems: string[] }> =>
    openPage(browser, baseUrl, user);

  it('signs an admin in and draws every panel from the API', async () => {
    const { page, problems } = await openSignedIn(admin);
    await page.getByTestId('dashboard').waitFor({ state: 'visible' });
    const panels = [
      'kpis',
      'funnel-wellness',
      'funnel-marketplace',
      'events',
      'retention',
      'content',
      'revenue',
      'applications',
      'reviews',
      'users',
      'flags',
      'health',
    ];
    await Promise.all(panels.map((panel) => ready(page, panel)));

    // The page asks for the range its date inputs show: the same question to the API, same numbers.
    const from = await page.getByTestId('filter-from').inputValue();
    const to = await page.getByTestId('filter-to').inputValue();
    expect(to).toBe(new Date().toISOString().slice(0, 10));
    const ask = async (path: string) => {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/admin/analytics/${path}`, headers: admin.headers });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().data;
    };
    const range = `from=${from}&to=${to}`;
    const wellness = await ask(`funnel?journey=wellness&${range}`);
    const signedUp = wellness.steps.find((step: { step: string }) => step.step === 'signed_up');
    expect(signedUp.count).toBeGreaterThanOrEqual(4);
    await expect
      .poll(() => page.getByTestId('funnel-step-signed_up').getAttribute('data-count'))
      .toBe(String(signedUp.count));
    const marketplace = await ask(`funnel?journey=marketplace&${range}`);
    const searched = marketplace.steps.find((step: { step: string }) => step.step === 'searched');
    expect(searched.count).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId('funnel-step-searched').getAttribute('data-count')).toBe(String(searched.count));
    const engagement = await ask(`engagement?${range}`);
    const total = engagement.daily.reduce((sum: number, day: { events: number }) => sum + day.events, 0);
    expect(total).toBeGreaterThan(0);
    expect(await page.getByTestId('events-total').getAttribute('data-total')).toBe(String(total));
    const content = await ask(`content?${range}`);
    expect(content.items.length).toBeGreaterThan(0);
    for (const item of content.items.slice(0, 20)) {
      expect(await page.getByTestId(`content-row-${item.content_id}`).count()).toBe(1);
    }
    expect(await page.getByTestId('panel-content').textContent()).toContain('Screening, explained');
    expect(await page.getByTestId('health-status').textContent()).toBe('healthy');
    expect(await page.getByTestId('health-database').getAttribute('data-status')).toBe('up');
    expect(await page.getByTestId('signed-in-as').textContent()).toBe(admin.email);
    // The numbers include made-up people, and the page says so.
    const badge = page.getByTestId('demo-history');
    await badge.waitFor({ state: 'visible' });
    expect(await badge.textContent()).toMatch(
      /^Includes a synthetic demo history: 300 made-up people, \d{4}-\d{2}-\d{2} to /,
    );
    expect(signedUp.count).toBeGreaterThan(100);

    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    // The CSP let everything the page needs through: no violations, no script errors.
    expect(problems).toEqual([]);
    await page.close();
  });

  /** GET /admin/payments/summary as the admin, for the range the page shows. */
  async function revenueSummary(page: Page) {
    const from = await page.getByTestId('filter-from').inputValue();
    const to = await page.getByTestId('filter-to').inputValue();
    const res = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/payments/summary?from=${from}&to=${to}`,
      headers: admin.headers,
    });
    expect(res.statusCode, res.body).toBe(200);
    return { from, to, summary: res.json().data as RevenueSummary };
  }

  it('draws the revenue of the demo payments per currency, with the totals and the CSV export', async () => {
    const { page, problems } = await openSignedIn(admin);
    await ready(page, 'revenue');
    const { from, to, summary } = await revenueSummary(page);

    // The demo's visits were paid by card at the demo commission (10%) and nothing was refunded.
    const gbp = summary.totals.find((total) => total.currency === 'GBP');
    expect(gbp, JSON.stringify(summary)).toBeDefined();
    expect(gbp!.gross_minor).toBeGreaterThan(0);
    expect(gbp!.commission_minor * 10).toBe(gbp!.gross_minor);
    expect(gbp!.refunds_minor).toBe(0);
    expect(gbp!.net_minor).toBe(gbp!.commission_minor);

    expect(await page.getByTestId('revenue-summary').getAttribute('data-currencies')).toBe(
      String(summary.totals.length),
    );
    for (const total of summary.totals) {
      const { currency } = total;
      const row = page.getByTestId(`revenue-total-${currency}`);
      const amounts = [total.gross_minor, total.commission_minor, total.refunds_minor, total.net_minor];
      for (const [name, value] of [
        ['gross', total.gross_minor],
        ['commission', total.commission_minor],
        ['refunds', total.refunds_minor],
        ['net', total.net_minor],
      ] as const) {
        expect(await row.getAttribute(`data-${name}-minor`), `${currency} ${name}`).toBe(String(value));
      }
      // Shown in major units, in the currency's ISO decimals.
      const cells = await row.locator('td').allTextContents();
      expect(cells.map((text) => text.replace(/[^\d.-]/g, ''))).toEqual(
        amounts.map((minor) => formatMinor(minor, currency)),
      );
      // One chart per currency, a bar group per day of the range, its paid days as the API lists them.
      const chart = page.getByTestId(`revenue-chart-${currency}`);
      const paidDays = summary.days.filter((day) => day.currency === currency);
      expect(await chart.getAttribute('data-days')).toBe(String(paidDays.length));
      const rangeDays = Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000) + 1;
      expect(await chart.locator('svg > g').count()).toBe(rangeDays);
      const barHeights = await chart
        .locator('svg rect.bar:not(.refund)')
        .evaluateAll((bars) => bars.map((bar) => Number(bar.getAttribute('height'))));
      expect(barHeights.filter((height) => height > 0)).toHaveLength(
        paidDays.filter((day) => day.gross_minor > 0).length,
      );
    }

    // The CSV link: the same route's CSV, fetched with the token and saved under the server's name.
    const csv = await t.app.inject({
      method: 'GET',
      url: `/api/v1/admin/payments/summary?from=${from}&to=${to}&format=csv`,
      headers: admin.headers,
    });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(await page.getByTestId('revenue-csv').getAttribute('href')).toBe(
      `/api/v1/admin/payments/summary?from=${from}&to=${to}&format=csv`,
    );
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('revenue-csv').click()]);
    expect(download.suggestedFilename()).toBe(`payments-${from}-${to}.csv`);
    const saved = await readFile(await download.path());
    expect(saved.toString('utf8')).toBe(csv.body);
    expect(csv.body.split('\r\n')[0]).toBe('day,currency,gross_minor,commission_minor,refunds_minor,net_minor');
    expect(await page.getByTestId('revenue-csv-error').isHidden()).toBe(true);

    expect(problems).toEqual([]);
    await page.close();
  });

  it('says when a range has no payments, and shows the API refusing a range it cannot answer', async () => {
    const { page, problems } = await openSignedIn(admin);
    await ready(page, 'revenue');
    await page.getByTestId('filter-from').fill('2001-01-01');
    await page.getByTestId('filter-to').fill('2001-01-31');
    await page.getByTestId('filter-apply').click();
    await page.getByTestId('revenue-empty').waitFor({ state: 'visible' });
    await ready(page, 'revenue');
    expect(await page.getByTestId('revenue-summary').getAttribute('data-currencies')).toBe('0');
    const { summary } = await revenueSummary(page);
    expect(summary).toMatchObject({ from: '2001-01-01', to: '2001-01-31', days: [], totals: [] });

    // More than the 366 days the summary covers: the panel shows the API's refusal, the page goes on.
    await page.getByTestId('filter-from').fill('2001-01-01');
    await page.getByTestId('filter-to').fill('2003-01-01');
    await page.getByTestId('filter-apply').click();
    const panel = page.locator('[data-testid="panel-revenue"][data-state="error"]');
    await panel.waitFor({ state: 'attached' });
    expect(await panel.getByRole('alert').textContent()).toBeTruthy();
    expect(await page.getByTestId('dashboard').isVisible()).toBe(true);
    // The failed request is the only console error (the browser logs a 400 as one).
    expect(problems.filter((problem) => !/status of 400/.test(problem))).toEqual([]);
    await page.close();
  });

  it('approves and rejects provider applications from the queue, through the API', async () => {
    // Two more applicants beside the demo's waiting "Fresh Start Physio".
    const categories = (await t.app.inject({ url: '/api/v1/categories' })).json().data as { id: string }[];
    const apply = async (name: string) => {
      const applicant = await createUser(t.app);
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/me/provider-application',
        headers: applicant.headers,
        payload: {
          business_name: name,
          bio: 'Applying from the e2e test.',
          city: 'York',
          country: 'GB',
          languages: ['en'],
          category_ids: [categories[0]?.id],
        },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().data.id as string;
    };
    const [approveId, rejectId] = [await apply('Approve Me Yoga'), await apply('Reject Me Reiki')];
    const { page, problems } = await openSignedIn(admin);
    await ready(page, 'applications');
    const row = (id: string) => page.locator(`[data-testid="application"][data-id="${id}"]`);
    await row(approveId).getByTestId('application-approve').click();
    await row(approveId).waitFor({ state: 'detached' });

    // Rejecting asks for the reason first.
    await row(rejectId).getByTestId('application-reject').click();
    await row(rejectId).getByTestId('application-error').waitFor({ state: 'visible' });
    await row(rejectId).getByTestId('application-reason').fill('Please add your certificate');
    await row(rejectId).getByTestId('application-reject').click();
    await row(rejectId).waitFor({ state: 'detached' });

    const decided = (await t.app.inject({ url: '/api/v1/admin/provider-applications', headers: admin.headers })).json()
      .data as { id: string; status: string; reason: string | null }[];
    expect(decided.find((a) => a.id === approveId)?.status).toBe('approved');
    expect(decided.find((a) => a.id === rejectId)).toMatchObject({
      status: 'rejected',
      reason: 'Please add your certificate',
    });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('tells a signed-in non-admin that the dashboard is for admins only', async () => {
    const { page } = await openSignedIn(member);
    await page.getByTestId('admins-only').waitFor({ state: 'visible' });
    expect(await page.getByTestId('admins-only').textContent()).toContain('Admins only');
    expect(await page.getByTestId('dashboard').isHidden()).toBe(true);
    await page.close();
  });

  it('shows a sign-in error for a wrong password and keeps the form', async () => {
    const { page } = await openSignedIn({ ...admin, password: 'Not-the-password-1' });
    await page.getByTestId('login-error').waitFor({ state: 'visible' });
    expect(await page.getByTestId('login-error').textContent()).toBe('Wrong email or password.');
    expect(await page.getByTestId('dashboard').isHidden()).toBe(true);
    await page.close();
  });
});

if (!HAS_CHROMIUM) console.warn(SKIP_REASON);

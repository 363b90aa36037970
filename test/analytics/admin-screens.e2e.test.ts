import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { seedDemoData } from '../helpers/demo.js';
import { createUser, type TestUser } from '../helpers/users.js';
import { HAS_CHROMIUM, launchChromium, openSignedIn, ready, SKIP_REASON } from './dashboard-browser.js';

// The dashboard's management panels (reviews, users, feature flags) in headless Chromium, each
// change checked through the admin API afterwards. One app for the file, listening for the browser.
let t: TestApp;
let browser: Browser;
let baseUrl: string;
let admin: TestUser;
let launching: Promise<Browser> | undefined;
const SCREENSHOT = 'test-results/admin-screens.png';

/**
 * Markup in data: shown as text, never parsed. (Event handlers and scripts never reach the data:
 * request inspection refuses them, and the page's CSP would not run them.)
 */
const MARKUP = '<b>Bold</b> & <i>Co</i>';

describe.skipIf(!HAS_CHROMIUM)(HAS_CHROMIUM ? 'admin screens in headless Chromium' : SKIP_REASON, () => {
  beforeAll(async () => {
    launching = launchChromium();
    t = await buildTestApp();
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    admin = await createUser(t.app, { role: 'admin' });
    // The demo's reviews of its providers are what the reviews panel moderates.
    await seedDemoData(t.app);
    browser = await launching;
  });

  afterAll(async () => {
    await launching?.then(
      (started) => started.close(),
      () => undefined,
    );
    await t?.close();
  });

  const get = async (url: string) => {
    const res = await t.app.inject({ url: `/api/v1${url}`, headers: admin.headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data;
  };

  /** Answers every confirm() with `accept()`'s current answer, and keeps what was asked. */
  function confirmations(page: Page) {
    const asked: string[] = [];
    let answer = true;
    page.on('dialog', async (dialog) => {
      asked.push(dialog.message());
      await (answer ? dialog.accept() : dialog.dismiss());
    });
    return {
      asked,
      answer: (value: boolean) => {
        answer = value;
      },
    };
  }

  it('draws the three panels beside the reports, under the same CSP, with no script error', async () => {
    const { page, problems } = await openSignedIn(browser, baseUrl, admin);
    await Promise.all(['reviews', 'users', 'flags', 'kpis', 'applications'].map((panel) => ready(page, panel)));
    const reviews = (await get('/admin/reviews?limit=20')) as { id: string }[];
    expect(reviews.length).toBeGreaterThan(0);
    expect(
      await page.getByTestId('review').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-id'))),
    ).toEqual(reviews.map((review) => review.id));
    expect(await page.getByTestId('user').count()).toBeGreaterThan(0);
    mkdirSync('test-results', { recursive: true });
    await page.getByTestId('panel-reviews').scrollIntoViewIfNeeded();
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('hides a review with a reason and shows it again, through the API', async () => {
    const { page, problems } = await openSignedIn(browser, baseUrl, admin);
    await ready(page, 'reviews');
    const first = page.getByTestId('review').first();
    const id = (await first.getAttribute('data-id')) as string;
    const row = page.locator(`[data-testid="review"][data-id="${id}"]`);
    expect(await row.getAttribute('data-visible')).toBe('true');

    // Hiding asks for the reason first.
    await row.getByTestId('review-hide').click();
    await row.getByTestId('review-error').waitFor({ state: 'visible' });
    expect(await row.getByTestId('review-error').textContent()).toContain('Write why');
    expect((await get(`/admin/reviews?visible=false`)).map((review: { id: string }) => review.id)).not.toContain(id);

    await row.getByLabel(/Reason for hiding/).fill('Names another client');
    await row.getByTestId('review-hide').click();
    await page.locator(`[data-testid="review"][data-id="${id}"][data-visible="false"]`).waitFor();
    expect(await row.getByTestId('review-hidden-reason').textContent()).toBe('Names another client');
    const hidden = (await get('/admin/reviews?visible=false')).find((review: { id: string }) => review.id === id);
    expect(hidden).toMatchObject({ visible: false, hidden_reason: 'Names another client' });
    // Focus stays on the row's action: a keyboard user can show it again at once.
    expect(await page.locator(':focus').getAttribute('data-testid')).toBe('review-show');

    // The filter lists the hidden ones only.
    await page.getByTestId('review-filter').selectOption('false');
    await ready(page, 'reviews');
    await expect
      .poll(() => page.getByTestId('review').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id'))))
      .toEqual([id]);

    // Shown again from the keyboard.
    await row.getByTestId('review-show').focus();
    await page.keyboard.press('Enter');
    await page.locator(`[data-testid="review"][data-id="${id}"][data-visible="true"]`).waitFor();
    const shown = (await get('/admin/reviews')).find((review: { id: string }) => review.id === id);
    expect(shown).toMatchObject({ visible: true, hidden_reason: null });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('finds a user by email prefix, changes plan and role, deactivates and reactivates them', async () => {
    const prefix = `screens.${Date.now()}`;
    const person = await createUser(t.app, { email: `${prefix}@example.test`, name: MARKUP });
    const { page, problems } = await openSignedIn(browser, baseUrl, admin);
    const { asked, answer } = confirmations(page);
    await ready(page, 'users');
    await page.getByLabel('Email starts with').fill(prefix);
    await page.getByLabel('Email starts with').press('Enter');
    // The search's answer, not the newest accounts listed on sign-in (the person among them).
    await page.locator(`[data-testid="panel-users"] [data-query="${prefix}"]`).waitFor();
    const row = page.locator(`[data-testid="user"][data-id="${person.id}"]`);
    expect(await page.getByTestId('user').count()).toBe(1);
    // The name is text, not markup.
    expect(await row.textContent()).toContain(MARKUP);
    expect(await row.locator('b, i').count()).toBe(0);

    const account = () => get(`/admin/users/${person.id}`);
    await row.getByLabel(`Plan of ${person.email}`).selectOption('premium');
    await expect.poll(async () => (await account()).plan).toBe('premium');
    await row.getByTestId('user-status').filter({ hasText: 'Plan saved.' }).waitFor();

    // A role change is confirmed first: dismissed, nothing changes and the select goes back.
    answer(false);
    await row.getByLabel(`Role of ${person.email}`).selectOption('provider');
    await expect.poll(() => row.getByLabel(`Role of ${person.email}`).inputValue()).toBe('user');
    expect((await account()).role).toBe('user');
    answer(true);
    await row.getByLabel(`Role of ${person.email}`).selectOption('provider');
    await expect.poll(async () => (await account()).role).toBe('provider');

    await row.getByRole('button', { name: `Deactivate ${person.email}` }).click();
    await page.locator(`[data-testid="user"][data-id="${person.id}"][data-active="false"]`).waitFor();
    expect(await account()).toMatchObject({ is_active: false, role: 'provider', plan: 'premium' });
    // Their session is over: the API refuses their token.
    const refused = await t.app.inject({ url: '/api/v1/me', headers: person.headers });
    expect(refused.statusCode).toBe(401);
    expect(asked.at(-1)).toContain(`Deactivate ${person.email}?`);

    await row.getByRole('button', { name: `Reactivate ${person.email}` }).click();
    await expect.poll(async () => (await account()).is_active).toBe(true);
    expect(asked).toHaveLength(4);

    // The admin's own row cannot be demoted or deactivated from here.
    await page.getByLabel('Email starts with').fill(admin.email);
    await page.getByTestId('user-search-submit').click();
    await page.locator(`[data-testid="panel-users"] [data-query="${admin.email}"]`).waitFor();
    const mine = page.locator(`[data-testid="user"][data-id="${admin.id}"]`);
    await mine.waitFor();
    expect(await mine.getByTestId('user-role').isDisabled()).toBe(true);
    expect(await mine.getByTestId('user-toggle-active').isDisabled()).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('creates a flag, moves its rollout slider and pulls its kill switch, through the API', async () => {
    const { page, problems } = await openSignedIn(browser, baseUrl, admin);
    await ready(page, 'flags');

    // The API's refusal is shown in the form.
    await page.getByLabel('Key', { exact: true }).fill('Not A Key');
    await page.getByTestId('flag-create-submit').click();
    await page.getByTestId('flag-create-error').waitFor({ state: 'visible' });
    expect(await page.getByTestId('flag-create-error').textContent()).toMatch(/Request validation failed \(body.key: /);

    const key = `e2e_rollout_${Date.now()}`;
    await page.getByLabel('Key', { exact: true }).fill(key);
    await page.getByLabel('Description', { exact: true }).fill(MARKUP);
    await page.getByTestId('flag-create-submit').click();
    const row = page.locator(`[data-testid="flag"][data-key="${key}"]`);
    await row.waitFor();
    expect(await page.getByTestId('flag-create-error').isHidden()).toBe(true);
    expect(await row.textContent()).toContain(MARKUP);
    expect(await row.locator('b, i').count()).toBe(0);
    const flag = async () =>
      ((await get('/admin/flags')) as { key: string; enabled: boolean; rollout_percentage: number }[]).find(
        (candidate) => candidate.key === key,
      );
    expect(await flag()).toMatchObject({ enabled: false, rollout_percentage: 0 });

    // Switched on, then the slider to 30.
    await row.getByRole('switch').check();
    await expect.poll(async () => (await flag())?.enabled).toBe(true);
    await row.getByLabel(`Rollout of ${key}`).fill('30');
    await expect.poll(async () => (await flag())?.rollout_percentage).toBe(30);
    expect(await row.getByTestId('flag-rollout-value').textContent()).toBe('30%');

    // Three quick key presses: each saves, one after another, and the last position wins.
    await row.getByLabel(`Rollout of ${key}`).focus();
    for (let i = 0; i < 3; i += 1) await page.keyboard.press('ArrowRight');
    await expect.poll(async () => (await flag())?.rollout_percentage).toBe(33);
    await page.locator(`[data-testid="flag"][data-key="${key}"][data-rollout="33"]`).waitFor();

    // The kill switch: off at once, rollout kept.
    await row.getByRole('switch').focus();
    await page.keyboard.press('Space');
    await expect.poll(async () => (await flag())?.enabled).toBe(false);
    expect(await flag()).toMatchObject({ enabled: false, rollout_percentage: 33 });
    await page.locator(`[data-testid="flag"][data-key="${key}"][data-enabled="false"]`).waitFor();

    // Deleted behind the page's back: the row shows the API's refusal and the slider goes back.
    const deleted = await t.app.inject({ method: 'DELETE', url: `/api/v1/admin/flags/${key}`, headers: admin.headers });
    expect(deleted.statusCode).toBe(204);
    await row.getByLabel(`Rollout of ${key}`).fill('80');
    await row.getByTestId('flag-error').waitFor({ state: 'visible' });
    expect(await row.getByTestId('flag-error').textContent()).toMatch(/not found/i);
    await expect.poll(() => row.getByLabel(`Rollout of ${key}`).inputValue()).toBe('33');
    expect(await row.getByTestId('flag-rollout-value').textContent()).toBe('33%');
    expect(await flag()).toBeUndefined();
    // The refused requests are the only console errors (the browser logs a 400 or 404 as one).
    expect(problems.filter((problem) => !/status of 40[04]/.test(problem))).toEqual([]);
    await page.close();
  });
});

import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Where the dashboard's browser tests find Chromium; CI installs it (.ci/run) and never skips. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM) || Boolean(process.env.CI);
export const SKIP_REASON = 'Chromium not installed (apt-get install chromium): dashboard e2e skipped';

/** Headless Chromium as the dashboard tests run it: no sandbox, GPU, sync or background traffic. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });

/** Opens /admin and submits the sign-in form; `problems` collects script errors and CSP reports. */
export async function openSignedIn(
  browser: Browser,
  baseUrl: string,
  user: { email: string; password: string },
): Promise<{ page: Page; problems: string[] }> {
  const problems: string[] = [];
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(8000);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(`${baseUrl}/admin`);
  await page.getByLabel('Email', { exact: true }).fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByTestId('login-submit').click();
  return { page, problems };
}

/** Waits until the panel has drawn from the API. */
export const ready = (page: Page, panel: string) =>
  page.locator(`[data-testid="panel-${panel}"][data-state="ready"]`).waitFor({ state: 'attached' });

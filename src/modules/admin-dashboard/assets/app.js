// Admin dashboard: sign in, then draw the analytics reports and the revenue summary (charts.js)
// from the API (api.js), and the management panels: reviews, users, feature flags (manage.js).
// No framework, no third-party code; the page's CSP allows only these scripts and same-origin
// requests. The server fills in each import's content hash, so a page never mixes old and new
// modules after a deploy.
import {
  API,
  api,
  endSession as closeSession,
  download,
  onSessionExpired,
  signedIn,
  startSession,
} from './api.js?v={{version:api.js}}';
import {
  contentTable,
  DAY_MS,
  eventsChart,
  funnelChart,
  h,
  healthPanel,
  isoDay,
  kpiTiles,
  retentionHeatmap,
  revenuePanel,
  securityPanel,
} from './charts.js?v={{version:charts.js}}';
import { managementPanels } from './manage.js?v={{version:manage.js}}';

// Bumped on every load and sign-out: answers to an earlier load are dropped.
let generation = 0;

const byId = (id) => document.getElementById(id);
const panel = (name) => document.querySelector(`[data-testid="panel-${name}"]`);

function filters(extra) {
  const params = new URLSearchParams({ from: byId('from').value, to: byId('to').value });
  if (byId('plan').value) params.set('plan', byId('plan').value);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params;
}

async function report(name, extra = {}) {
  const payload = await api(`${API}/admin/analytics/${name}?${filters(extra)}`);
  return payload.data;
}

const REVENUE = `${API}/admin/payments/summary`;

/** The revenue summary for the chosen days (it has no plan filter: payments are not by plan). */
async function revenue() {
  const range = new URLSearchParams({ from: byId('from').value, to: byId('to').value });
  const payload = await api(`${REVENUE}?${range}`);
  return { summary: payload.data, range };
}

/**
 * The link to the same days as CSV. Its href is the export's URL; a click fetches it with the
 * token and saves it under the name the server gives it.
 */
function csvLink(range) {
  const query = new URLSearchParams(range);
  query.set('format', 'csv');
  const link = h('a', { href: `${REVENUE}?${query}`, 'data-testid': 'revenue-csv', text: 'Download the days as CSV' });
  const problem = h('span', { class: 'error', role: 'alert', 'data-testid': 'revenue-csv-error', hidden: true });
  link.addEventListener('click', async (event) => {
    event.preventDefault();
    if (link.getAttribute('aria-busy')) return;
    link.setAttribute('aria-busy', 'true');
    problem.hidden = true;
    try {
      const file = await download(link.href, 'text/csv');
      const url = URL.createObjectURL(file.blob);
      const save = h('a', { href: url, download: file.name ?? 'payments.csv', hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      // Revoked later: the download may still be reading it.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (failure) {
      if (failure.status === 403) return adminsOnly();
      problem.textContent = ` The CSV could not be downloaded: ${failure.message}`;
      problem.hidden = false;
    } finally {
      link.removeAttribute('aria-busy');
    }
  });
  return h('span', {}, link, problem);
}

// ---- Provider applications ----

const APPLICATIONS = `${API}/admin/provider-applications`;

/** One waiting application: its details, Approve, and Reject with the reason the applicant is told. */
function applicationRow(application, decided) {
  const reason = h('input', {
    type: 'text',
    maxlength: '1000',
    placeholder: 'Reason (told to the applicant)',
    'aria-label': `Reason for rejecting ${application.business_name}`,
    'data-testid': 'application-reason',
  });
  const problem = h('span', { class: 'error', role: 'alert', hidden: true, 'data-testid': 'application-error' });
  const act = async (button, path, body) => {
    problem.hidden = true;
    button.disabled = true;
    try {
      await api(`${APPLICATIONS}/${application.id}/${path}`, { method: 'POST', body });
      decided();
    } catch (failure) {
      if (failure.status === 403) return adminsOnly();
      problem.textContent = ` ${failure.message}`;
      problem.hidden = false;
      button.disabled = false;
    }
  };
  const approve = h('button', { type: 'button', text: 'Approve', 'data-testid': 'application-approve' });
  approve.addEventListener('click', () => act(approve, 'approve', {}));
  const reject = h('button', { type: 'button', text: 'Reject', 'data-testid': 'application-reject' });
  reject.addEventListener('click', () => {
    if (!reason.value.trim()) {
      problem.textContent = ' Write the reason first: the applicant is told it.';
      problem.hidden = false;
      reason.focus();
      return;
    }
    act(reject, 'reject', { reason: reason.value.trim() });
  });
  return h(
    'tr',
    { 'data-testid': 'application', 'data-id': application.id },
    h(
      'td',
      {},
      h('strong', { text: application.business_name }),
      h('br'),
      h('span', { class: 'muted', text: application.bio }),
    ),
    h('td', { text: `${application.city}, ${application.country}` }),
    h('td', { text: application.created_at.slice(0, 10) }),
    h('td', { text: `${application.document_media_ids.length}` }),
    h('td', {}, approve, ' ', reason, ' ', reject, problem),
  );
}

async function applicationsPanel() {
  const payload = await api(`${APPLICATIONS}?status=pending&limit=50`);
  if (payload.data.length === 0)
    return h('p', { text: 'No application is waiting.', 'data-testid': 'applications-empty' });
  const reload = () => render('applications', applicationsPanel);
  return h(
    'table',
    { 'data-testid': 'applications' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Business', 'Where', 'Applied', 'Documents', 'Decision'].map((text) => h('th', { text })),
      ),
    ),
    h(
      'tbody',
      {},
      payload.data.map((application) => applicationRow(application, reload)),
    ),
  );
}

// ---- Screens ----

function show(screen) {
  byId('sign-in').hidden = screen !== 'sign-in';
  byId('admins-only').hidden = screen !== 'admins-only';
  byId('dashboard').hidden = screen !== 'dashboard';
  byId('who').hidden = screen !== 'dashboard';
}

/** Forgets the token and ends its session on the server; loads still in flight are dropped. */
function endSession() {
  closeSession();
  generation += 1;
}

function signOut(message) {
  endSession();
  byId('password').value = '';
  const error = byId('login-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  show('sign-in');
  byId('email').focus();
}

// A session that cannot read the reports is of no use here: end it.
function adminsOnly() {
  endSession();
  show('admins-only');
}

async function signIn(event) {
  event.preventDefault();
  const button = event.submitter ?? byId('login-form').querySelector('button');
  const error = byId('login-error');
  error.hidden = true;
  button.disabled = true;
  try {
    const email = byId('email').value.trim();
    const payload = await api(`${API}/auth/login`, {
      method: 'POST',
      body: { email, password: byId('password').value },
    });
    startSession(payload.data.access_token);
    byId('password').value = '';
    byId('signed-in-as').textContent = email;
    // The reports decide who is an admin: a 403 here means the account is not one.
    try {
      await report('activation');
    } catch (failure) {
      if (failure.status === 403) return adminsOnly();
      // Signed out again (401), or the report is down: the dashboard shows each panel's error.
      if (!signedIn()) return;
    }
    show('dashboard');
    load();
  } catch (failure) {
    error.textContent = failure.status === 401 ? 'Wrong email or password.' : failure.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// ---- Panels ----

// The latest draw asked of each panel: an earlier one answering late (a slow search overtaken by
// the next) is dropped.
const latestDraw = new Map();

async function render(name, draw) {
  const section = panel(name);
  const target = section.querySelector('.body') ?? section;
  const mine = generation;
  const ticket = {};
  latestDraw.set(name, ticket);
  const stale = () => mine !== generation || latestDraw.get(name) !== ticket;
  section.dataset.state = 'loading';
  section.setAttribute('aria-busy', 'true');
  try {
    const content = await draw();
    if (stale()) return;
    target.replaceChildren(content);
    section.dataset.state = 'ready';
  } catch (failure) {
    if (stale()) return;
    if (failure.status === 403) return adminsOnly();
    const text = failure.status === 404 ? 'This report is not available on this server.' : failure.message;
    target.replaceChildren(h('p', { class: 'error', role: 'alert', text }));
    section.dataset.state = 'error';
  } finally {
    // Only the newest draw of the panel says it is done.
    if (latestDraw.get(name) === ticket) section.removeAttribute('aria-busy');
  }
}

/** Says so when the reports include the demo's synthetic history (made-up people). */
async function showDemoHistory(ticket) {
  const badge = byId('demo-history');
  try {
    const { data } = await api(`${API}/admin/analytics/demo-history`);
    if (ticket !== generation) return;
    badge.hidden = !data.synthetic;
    badge.textContent = data.synthetic
      ? `Includes a synthetic demo history: ${data.people} made-up people, ${data.from.slice(0, 10)} to ${data.to.slice(0, 10)}`
      : '';
  } catch {
    badge.hidden = true;
  }
}

function load() {
  const from = byId('from').value;
  const to = byId('to').value;
  const note = byId('range-note');
  if (!from || !to || from > to) {
    note.textContent = 'Choose a start date on or before the end date.';
    return;
  }
  generation += 1;
  const days = Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS) + 1;
  note.textContent = `${days} day${days === 1 ? '' : 's'}, UTC`;
  render('kpis', async () => kpiTiles(...(await Promise.all([report('activation'), report('conversion')]))));
  render('funnel-wellness', async () =>
    funnelChart('wellness', (await report('funnel', { journey: 'wellness' })).steps),
  );
  render('funnel-marketplace', async () =>
    funnelChart('marketplace', (await report('funnel', { journey: 'marketplace' })).steps),
  );
  render('events', async () => eventsChart(await report('engagement')));
  render('retention', async () => retentionHeatmap((await report('retention')).cohorts));
  render('content', async () => contentTable((await report('content')).items));
  render('revenue', async () => {
    const { summary, range } = await revenue();
    const note = byId('plan').value ? 'all plans (the plan filter does not apply to payments)' : undefined;
    return revenuePanel(summary, { download: csvLink(range), note });
  });
  render('security', async () => securityPanel((await api(`${API}/admin/security/summary?hours=24`)).data));
  render('applications', applicationsPanel);
  management.load();
  showDemoHistory(generation);
  // 503 still carries the report (status critical).
  render('health', async () => healthPanel(await api('/api/health', { accept: [503] })));
}

// ---- Start ----

const management = managementPanels({
  render,
  forbidden: () => adminsOnly(),
  me: () => byId('signed-in-as').textContent ?? '',
});

onSessionExpired(() => signOut('Your session has ended; sign in again.'));

document.addEventListener('DOMContentLoaded', () => {
  const today = new Date();
  byId('to').value = isoDay(today);
  byId('from').value = isoDay(new Date(today.getTime() - 29 * DAY_MS));
  byId('login-form').addEventListener('submit', signIn);
  byId('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });
  byId('sign-out').addEventListener('click', () => signOut());
  byId('admins-only-back').addEventListener('click', () => signOut());
  show('sign-in');
});

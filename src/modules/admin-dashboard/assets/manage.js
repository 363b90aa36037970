// The dashboard's management panels: review moderation, users, and feature flags. Each calls the
// admin API as the signed-in admin; what the API answers (its message on a refusal) is shown in
// the row or form that asked. Text goes in only through textContent (h), never as HTML.
import { API, api } from './api.js?v={{version:api.js}}';
import { h } from './charts.js?v={{version:charts.js}}';

const byId = (id) => document.getElementById(id);
const ROLES = ['user', 'provider', 'admin'];
const PLANS = ['free', 'trial', 'premium'];
const PAGE = 20;

/**
 * The panels' shared context, set by `managementPanels`: what to do on a 403 (the session is not an
 * admin's any more) and whose session this is (an admin does not demote or deactivate themselves here).
 */
let context = { forbidden: () => {}, me: () => '' };

/** An error line for a row or form, hidden until a refusal fills it. */
const problemLine = (testid) => h('span', { class: 'error', role: 'alert', hidden: true, 'data-testid': testid });

/** A polite status line ("Saved") for screen readers and eyes alike. */
const statusLine = (testid) => h('span', { class: 'muted saved-note', 'aria-live': 'polite', 'data-testid': testid });

/** The API's message, and which field it refused and why ("body.key: must match pattern …"). */
function explain(failure) {
  const fields = failure.details
    ?.filter((detail) => detail && typeof detail.message === 'string')
    .map((detail) => (detail.field ? `${detail.field}: ${detail.message}` : detail.message));
  return fields?.length ? `${failure.message} (${fields.join('; ')})` : failure.message;
}

/**
 * Runs one API call for a control: its problem line cleared first and filled with the API's
 * message if it refuses. Answers the payload's data, or undefined when it failed.
 */
async function attempt(problem, work) {
  problem.hidden = true;
  problem.textContent = '';
  try {
    return (await work())?.data ?? null;
  } catch (failure) {
    if (failure.status === 403) {
      context.forbidden();
      return undefined;
    }
    problem.textContent = ` ${explain(failure)}`;
    problem.hidden = false;
    return undefined;
  }
}

/** Calls made one after another, so the server sees a row's changes in the order they were made. */
function serial() {
  let last = Promise.resolve();
  return (task) => {
    last = last.then(task, task);
    return last;
  };
}

/**
 * A button that disables itself while its work runs; `work({ focused })` is told whether it had the
 * focus, and gets it back unless the work moved the focus elsewhere.
 */
function busyButton(button, work) {
  button.addEventListener('click', async () => {
    if (button.disabled) return;
    const focused = document.activeElement === button;
    button.disabled = true;
    try {
      await work({ focused });
    } finally {
      button.disabled = false;
      const lost = document.activeElement === null || document.activeElement === document.body;
      if (focused && lost && button.isConnected) button.focus();
    }
  });
  return button;
}

/** A table whose body grows a page at a time: `fetchPage(cursor)` answers { data, meta }. */
async function pagedTable({ testid, headings, fetchPage, rowOf, empty }) {
  const first = await fetchPage(null);
  if (first.data.length === 0) return h('p', { text: empty, 'data-testid': `${testid}-empty` });
  const body = h('tbody', {}, first.data.map(rowOf));
  const more = h('button', { type: 'button', class: 'secondary', text: 'Show more', 'data-testid': `${testid}-more` });
  const problem = problemLine(`${testid}-more-error`);
  let cursor = first.meta?.next_cursor ?? null;
  more.hidden = !cursor;
  busyButton(more, async () => {
    const next = await attempt(problem, async () => {
      const page = await fetchPage(cursor);
      return { data: page };
    });
    if (!next) return;
    body.append(...next.data.map(rowOf));
    cursor = next.meta?.next_cursor ?? null;
    more.hidden = !cursor;
  });
  return h(
    'div',
    {},
    h(
      'table',
      { 'data-testid': testid },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headings.map((text) => h('th', { scope: 'col', text })),
        ),
      ),
      body,
    ),
    h('p', { class: 'more' }, more, problem),
  );
}

// ---- Reviews ----

const REVIEWS = `${API}/admin/reviews`;
const stars = (rating) => `${'★'.repeat(rating)}${'☆'.repeat(5 - rating)}`;

/**
 * One review: what it says and the provider's reply, and either Hide (with the reason, kept in the
 * audit trail) or, when hidden, why and Show. A decision redraws the row from the API's answer.
 */
function reviewRow(review) {
  const problem = problemLine('review-error');
  const label = `the ${review.rating}-star review of ${review.provider_name}`;
  let action;
  let state;
  const moderate = async (body, focused) => {
    // From the keyboard (the button, or Enter in the reason), the focus goes to the redrawn row's action.
    const focusAfter = focused || tr.contains(document.activeElement);
    const updated = await attempt(problem, () => api(`${REVIEWS}/${review.id}`, { method: 'PATCH', body }));
    if (!updated) return;
    const row = reviewRow({ ...review, ...updated });
    tr.replaceWith(row);
    if (focusAfter) row.querySelector('[data-focus-after]')?.focus();
  };
  if (review.visible) {
    const reason = h('input', {
      type: 'text',
      maxlength: '500',
      placeholder: 'Reason (kept in the audit trail)',
      'aria-label': `Reason for hiding ${label}`,
      'data-testid': 'review-reason',
    });
    const hide = h('button', { type: 'button', text: 'Hide', 'data-testid': 'review-hide', 'data-focus-after': true });
    busyButton(hide, async ({ focused }) => {
      if (!reason.value.trim()) {
        problem.textContent = ' Write why it is hidden first.';
        problem.hidden = false;
        reason.focus();
        return;
      }
      await moderate({ visible: false, reason: reason.value.trim() }, focused);
    });
    reason.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') hide.click();
    });
    state = h('span', { class: 'pill good', text: 'Shown' });
    action = h('span', { class: 'row-actions' }, reason, hide);
  } else {
    const show = h('button', {
      type: 'button',
      text: 'Show again',
      'data-testid': 'review-show',
      'data-focus-after': true,
    });
    busyButton(show, ({ focused }) => moderate({ visible: true }, focused));
    state = h(
      'span',
      {},
      h('span', { class: 'pill bad', text: 'Hidden' }),
      h('br'),
      h('span', { class: 'muted', 'data-testid': 'review-hidden-reason', text: review.hidden_reason ?? '' }),
    );
    action = h('span', { class: 'row-actions' }, show);
  }
  const tr = h(
    'tr',
    {
      'data-testid': 'review',
      'data-id': review.id,
      'data-visible': String(review.visible),
      class: review.visible ? null : 'hidden-review',
    },
    h('td', { text: review.provider_name }),
    h('td', { class: 'stars', 'aria-label': `${review.rating} of 5 stars`, text: stars(review.rating) }),
    h(
      'td',
      { class: 'review-text' },
      h('span', { 'data-testid': 'review-text', text: review.text }),
      review.reply ? h('span', { class: 'muted reply', text: `Reply: ${review.reply}` }) : null,
    ),
    h('td', { text: review.created_at.slice(0, 10) }),
    h('td', {}, state),
    h('td', {}, action, problem),
  );
  return tr;
}

function reviewsPanel() {
  const visible = byId('review-visible').value;
  return pagedTable({
    testid: 'reviews',
    headings: ['Provider', 'Rating', 'Review', 'Written', 'State', 'Moderation'],
    empty: visible === 'false' ? 'No review is hidden.' : 'No review yet.',
    rowOf: reviewRow,
    fetchPage: (cursor) => {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (visible) query.set('visible', visible);
      if (cursor) query.set('cursor', cursor);
      return api(`${REVIEWS}?${query}`);
    },
  });
}

// ---- Users ----

const USERS = `${API}/admin/users`;

function choice(values, current, attrs) {
  return h(
    'select',
    attrs,
    values.map((value) => h('option', { value, selected: value === current, text: value })),
  );
}

/**
 * One account: role and plan save when changed (a role change is confirmed first), Deactivate ends
 * its sessions at once (confirmed), Reactivate lets it sign in again. Your own account is shown,
 * not changed: an admin does not lock themselves out from here.
 */
function userRow(initial) {
  let user = initial;
  const mine = user.email.toLowerCase() === context.me().toLowerCase();
  const problem = problemLine('user-error');
  const status = statusLine('user-status');
  const queue = serial();
  const role = choice(ROLES, user.role, {
    'aria-label': `Role of ${user.email}`,
    'data-testid': 'user-role',
    disabled: mine,
  });
  const plan = choice(PLANS, user.plan, { 'aria-label': `Plan of ${user.email}`, 'data-testid': 'user-plan' });
  const active = h('span', { 'data-testid': 'user-active' });
  const toggle = h('button', { type: 'button', 'data-testid': 'user-toggle-active', disabled: mine });

  const draw = () => {
    tr.dataset.role = user.role;
    tr.dataset.plan = user.plan;
    tr.dataset.active = String(user.is_active);
    role.value = user.role;
    plan.value = user.plan;
    active.textContent = user.is_active ? 'Active' : 'Deactivated';
    active.className = user.is_active ? 'pill good' : 'pill bad';
    toggle.textContent = user.is_active ? 'Deactivate' : 'Reactivate';
    toggle.setAttribute('aria-label', `${user.is_active ? 'Deactivate' : 'Reactivate'} ${user.email}`);
  };
  const save = (patch, what) =>
    queue(async () => {
      status.textContent = '';
      tr.setAttribute('aria-busy', 'true');
      const updated = await attempt(problem, () => api(`${USERS}/${user.id}`, { method: 'PATCH', body: patch }));
      tr.removeAttribute('aria-busy');
      if (updated) {
        user = updated;
        status.textContent = `${what} saved.`;
      }
      // A refusal puts the controls back to what the server has.
      draw();
    });

  role.addEventListener('change', () => {
    const next = role.value;
    if (
      !window.confirm(
        `Make ${user.email} ${next === 'admin' ? 'an' : 'a'} ${next}? They get the new role's access once their token is refreshed.`,
      )
    ) {
      role.value = user.role;
      return;
    }
    save({ role: next }, 'Role');
  });
  plan.addEventListener('change', () => save({ plan: plan.value }, 'Plan'));
  busyButton(toggle, async () => {
    const deactivating = user.is_active;
    const question = deactivating
      ? `Deactivate ${user.email}? Their sessions end at once and they cannot sign in until reactivated.`
      : `Reactivate ${user.email}? They can sign in again.`;
    if (!window.confirm(question)) return;
    await save({ is_active: !deactivating }, deactivating ? 'Deactivation' : 'Reactivation');
  });

  const tr = h(
    'tr',
    { 'data-testid': 'user', 'data-id': user.id },
    h(
      'td',
      {},
      h('span', { 'data-testid': 'user-email', text: user.email }),
      mine ? h('span', { class: 'muted', text: ' (you)' }) : null,
      user.name ? h('br') : null,
      user.name ? h('span', { class: 'muted', text: user.name }) : null,
    ),
    h('td', {}, role),
    h('td', {}, plan),
    h('td', {}, active),
    h('td', { text: user.created_at.slice(0, 10) }),
    h('td', {}, toggle, ' ', status, problem),
  );
  draw();
  return tr;
}

async function usersPanel() {
  const email = byId('user-email').value.trim();
  const results = await pagedTable({
    testid: 'users',
    headings: ['Email', 'Role', 'Plan', 'State', 'Joined', 'Access'],
    empty: email ? `No account's email starts with “${email}”.` : 'No account yet.',
    rowOf: userRow,
    fetchPage: (cursor) => {
      const query = new URLSearchParams({ limit: String(PAGE) });
      if (email) query.set('email', email);
      if (cursor) query.set('cursor', cursor);
      return api(`${USERS}?${query}`);
    },
  });
  // Which search these results answer (the page's tests wait for it).
  results.dataset.query = email;
  return results;
}

// ---- Feature flags ----

const FLAGS = `${API}/admin/flags`;

/** Who a flag's rules narrow it to, and its schedule, in words. */
function flagScope(flag) {
  const parts = [];
  if (flag.rules?.plans?.length) parts.push(`plans: ${flag.rules.plans.join(', ')}`);
  if (flag.rules?.roles?.length) parts.push(`roles: ${flag.rules.roles.join(', ')}`);
  if (flag.rules?.attributes?.length) parts.push(`${flag.rules.attributes.length} attribute rule(s)`);
  if (flag.enable_at) parts.push(`on from ${flag.enable_at.slice(0, 16).replace('T', ' ')} UTC`);
  if (flag.disable_at) parts.push(`off from ${flag.disable_at.slice(0, 16).replace('T', ' ')} UTC`);
  return parts.length ? parts.join(' · ') : 'everyone';
}

/**
 * One flag: the rollout slider saves when let go (or on each key press), the last position
 * winning however fast it moves; the kill switch saves at once. A refusal puts the control back.
 */
function flagRow(initial, removed) {
  let flag = initial;
  const problem = problemLine('flag-error');
  const status = statusLine('flag-status');
  const queue = serial();
  const sliderId = `flag-rollout-${flag.key}`;
  const slider = h('input', {
    type: 'range',
    id: sliderId,
    min: '0',
    max: '100',
    step: '1',
    value: String(flag.rollout_percentage),
    'data-testid': 'flag-rollout',
  });
  const shown = h('output', { for: sliderId, 'data-testid': 'flag-rollout-value' });
  const killSwitch = h('input', { type: 'checkbox', role: 'switch', 'data-testid': 'flag-enabled' });
  const switchText = h('span', {});
  const remove = h('button', {
    type: 'button',
    class: 'secondary',
    text: 'Delete',
    'aria-label': `Delete the flag ${flag.key}`,
    'data-testid': 'flag-delete',
  });

  const draw = () => {
    tr.dataset.enabled = String(flag.enabled);
    tr.dataset.rollout = String(flag.rollout_percentage);
    killSwitch.checked = flag.enabled;
    switchText.textContent = flag.enabled ? 'On' : 'Off (killed)';
  };
  const showRollout = () => {
    shown.textContent = `${slider.value}%`;
    slider.setAttribute('aria-valuetext', `${slider.value} percent`);
  };
  const save = async (patch, what) => {
    status.textContent = '';
    tr.setAttribute('aria-busy', 'true');
    const updated = await attempt(problem, () =>
      api(`${FLAGS}/${encodeURIComponent(flag.key)}`, { method: 'PATCH', body: patch }),
    );
    tr.removeAttribute('aria-busy');
    if (updated) {
      flag = updated;
      status.textContent = `${what} saved.`;
    }
    return updated;
  };

  slider.addEventListener('input', showRollout);
  slider.addEventListener('change', () =>
    queue(async () => {
      // Only the slider's latest position is sent; positions passed while a save ran are skipped.
      const wanted = Number(slider.value);
      if (wanted === flag.rollout_percentage) return;
      const updated = await save({ rollout_percentage: wanted }, `Rollout ${wanted}%`);
      if (!updated && Number(slider.value) === wanted) {
        slider.value = String(flag.rollout_percentage);
        showRollout();
      }
      draw();
    }),
  );
  killSwitch.addEventListener('change', () =>
    queue(async () => {
      const wanted = killSwitch.checked;
      if (wanted === flag.enabled) return;
      await save({ enabled: wanted }, wanted ? 'Switched on:' : 'Switched off:');
      draw();
    }),
  );
  busyButton(remove, async () => {
    if (!window.confirm(`Delete the flag ${flag.key}? Code that still asks for it gets “off”.`)) return;
    const done = await attempt(problem, () => api(`${FLAGS}/${encodeURIComponent(flag.key)}`, { method: 'DELETE' }));
    if (done !== undefined) removed();
  });

  const tr = h(
    'tr',
    { 'data-testid': 'flag', 'data-key': flag.key },
    h(
      'td',
      {},
      h('strong', { 'data-testid': 'flag-key', text: flag.key }),
      flag.description ? h('br') : null,
      flag.description ? h('span', { class: 'muted', text: flag.description }) : null,
    ),
    h(
      'td',
      { class: 'rollout' },
      h('label', { for: sliderId, class: 'visually-hidden', text: `Rollout of ${flag.key}, percent of users` }),
      slider,
      ' ',
      shown,
    ),
    h(
      'td',
      {},
      h(
        'label',
        { class: 'switch' },
        killSwitch,
        h('span', { class: 'visually-hidden', text: `${flag.key} enabled: ` }),
        switchText,
      ),
    ),
    h('td', { class: 'muted', text: flagScope(flag) }),
    h('td', {}, remove, ' ', status, problem),
  );
  showRollout();
  draw();
  return tr;
}

async function flagsPanel(reload) {
  const flags = (await api(FLAGS)).data;
  if (flags.length === 0) return h('p', { text: 'No feature flag yet.', 'data-testid': 'flags-empty' });
  return h(
    'table',
    { 'data-testid': 'flags' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Flag', 'Rollout', 'Kill switch', 'For', ''].map((text) => h('th', { scope: 'col', text })),
      ),
    ),
    h(
      'tbody',
      {},
      flags.map((flag) => flagRow(flag, reload)),
    ),
  );
}

/** The create form: a key and a description; the flag starts off at 0% (the API's default). */
async function createFlag(event, reload) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector('button');
  const problem = byId('flag-create-error');
  button.disabled = true;
  try {
    const key = byId('flag-key').value.trim();
    const description = byId('flag-description').value.trim();
    const created = await attempt(problem, () =>
      api(FLAGS, { method: 'POST', body: description ? { key, description } : { key } }),
    );
    if (!created) return;
    form.reset();
    await reload();
  } finally {
    button.disabled = false;
  }
}

// ---- Wiring ----

/**
 * Wires the panels' own forms once and answers `load`, which draws all three through the page's
 * `render(name, draw)` (its loading, error and stale-answer handling).
 */
export function managementPanels({ render, forbidden, me }) {
  context = { forbidden, me };
  const reviews = () => render('reviews', reviewsPanel);
  const users = () => render('users', usersPanel);
  const flags = () => render('flags', () => flagsPanel(flags));
  byId('review-visible').addEventListener('change', reviews);
  byId('user-search').addEventListener('submit', (event) => {
    event.preventDefault();
    users();
  });
  byId('flag-create').addEventListener('submit', (event) => createFlag(event, flags));
  return {
    load() {
      reviews();
      users();
      flags();
    },
  };
}

/**
 * The spec's eight user journeys, each a script one virtual user (VU) repeats: `start` once (a
 * signed-in VU signs in there and keeps its access token for the whole run, as an app does),
 * then `iteration` again and again. Every request waits a think time first (bench/load/client.ts).
 * A step whose answer is not the expected one ends the iteration (it is already counted).
 */
import { randomBytes } from 'node:crypto';
import { type Answer, type Client, type Step, UnexpectedAnswer } from './client.js';
import { type Account, BOOKING_SERVICE_MINUTES, type ContentRef, type JourneyName, type LoadData } from './data.js';
import type { Random } from './random.js';

export interface VuContext {
  client: Client;
  random: Random;
  data: LoadData;
  /** This VU's number within its journey, from 0. */
  index: number;
  /** VUs on this journey. */
  count: number;
  /** Analytics events per batch. */
  eventsPerBatch: number;
  /** Counts something worth reporting that is not a request (a search without results, nothing to confirm). */
  note(what: string): void;
}

export interface VuScript {
  start(): Promise<void>;
  iteration(): Promise<void>;
}

export interface JourneySpec {
  name: JourneyName;
  title: string;
  /** VUs out of 100. */
  weight: number;
  /** What one iteration does, for the report. */
  summary: string;
  makeVu(context: VuContext): VuScript;
}

const step = (name: string, method: Step['method'], route: string): Step => ({ name, method, route });

export const STEPS = {
  signIn: step('sign in', 'POST', '/api/v1/auth/login'),
  categories: step('categories', 'GET', '/api/v1/categories'),
  search: step('search', 'GET', '/api/v1/services/search'),
  provider: step('provider', 'GET', '/api/v1/providers/:id'),
  slots: step('slots', 'GET', '/api/v1/providers/:id/slots'),
  book: step('book', 'POST', '/api/v1/bookings'),
  pay: step('pay', 'POST', '/api/v1/payments/:id/simulate'),
  viewBooking: step('view booking', 'GET', '/api/v1/bookings/:id'),
  dashboard: step('dashboard', 'GET', '/api/v1/provider/dashboard'),
  calendar: step('bookings', 'GET', '/api/v1/provider/bookings'),
  confirm: step('confirm', 'POST', '/api/v1/bookings/:id/confirm'),
  profile: step('profile', 'GET', '/api/v1/me/profile'),
  dietPlan: step('diet plan', 'GET', '/api/v1/me/recommendations/diet-plan'),
  protectionPlan: step('protection plan', 'GET', '/api/v1/me/recommendations/protection-plan'),
  contentItem: step('content item', 'GET', '/api/v1/content/:slug'),
  contentList: step('list', 'GET', '/api/v1/content'),
  article: step('article', 'GET', '/api/v1/content/:slug'),
  teaser: step('premium teaser', 'GET', '/api/v1/content/:slug'),
  createReminder: step('create', 'POST', '/api/v1/me/reminders'),
  listReminders: step('list', 'GET', '/api/v1/me/reminders'),
  deleteReminder: step('delete', 'DELETE', '/api/v1/me/reminders/:id'),
  events: step('event batch', 'POST', '/api/v1/events'),
  adminUsers: step('users', 'GET', '/api/v1/admin/users'),
  adminFlags: step('flags', 'GET', '/api/v1/admin/flags'),
  adminReport: step('report', 'GET', '/api/v1/admin/analytics/:report'),
} satisfies Record<string, Step>;

const DAY_MS = 86_400_000;
/** The slots API serves at most 60 days ahead; a VU asks for a week at a time, as a calendar shows it. */
const SLOT_HORIZON_MS = 59 * DAY_MS;
const SLOT_WINDOW_MS = 7 * DAY_MS;
const GRID_MS = BOOKING_SERVICE_MINUTES * 60_000;
const RUN_ID = randomBytes(4).toString('hex');

// ---------------------------------------------------------------------------------------------
// Shared steps

/** The answer's `data`, or a flagged problem when the body is not the documented envelope. */
function dataOf<T>(client: Client, answered: Step, answer: Answer): T {
  const body = answer.json<{ data?: T }>();
  if (body?.data === undefined) {
    client.flag(answered, 'no data in the answer');
    throw new UnexpectedAnswer(`${answered.route}: no data`);
  }
  return body.data;
}

/** A check on an expected answer's body: a failure counts as an unexpected answer and ends the iteration. */
function check(client: Client, answered: Step, ok: boolean, problem: string) {
  if (ok) return;
  client.flag(answered, problem);
  throw new UnexpectedAnswer(`${answered.route}: ${problem}`);
}

async function signIn(client: Client, account: Account) {
  const answer = await client.send({
    step: STEPS.signIn,
    path: STEPS.signIn.route,
    body: { email: account.email, password: account.password },
    expect: [200],
  });
  const tokens = dataOf<{ access_token?: string }>(client, STEPS.signIn, answer);
  check(client, STEPS.signIn, typeof tokens.access_token === 'string', 'no access token');
  client.token = `Bearer ${tokens.access_token}`;
}

const accountOf = (context: VuContext, journey: JourneyName): Account => {
  const account = context.data.accounts[journey][context.index];
  if (!account) throw new Error(`no ${journey} account for VU ${context.index}`);
  return account;
};

interface SearchHit {
  id: string;
  provider: { id: string };
}

/** A search as people type it: a term of the catalogue (a few with a typo), sometimes a city, a sort or a price cap. */
async function search(context: VuContext): Promise<SearchHit[]> {
  const { random, data, client } = context;
  const params = new URLSearchParams({ q: random.pick(data.searchTerms) });
  if (random.chance(0.25)) params.set('city', random.pick(data.cities));
  if (random.chance(0.2)) params.set('sort', random.pick(['price', 'rating', 'newest']));
  if (random.chance(0.1)) params.set('max_price', String(random.int(4, 12) * 500));
  // Prices compare within one currency (the catalogue has several): as a shop in pounds asks.
  if (params.has('max_price') || params.get('sort') === 'price') params.set('currency', 'GBP');
  const answer = await client.send({ step: STEPS.search, path: `${STEPS.search.route}?${params}`, expect: [200] });
  const hits = dataOf<SearchHit[]>(client, STEPS.search, answer);
  if (hits.length === 0) context.note('search without results');
  return hits;
}

const iso = (ms: number) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// 1. Anonymous browse

const browse: JourneySpec = {
  name: 'browse',
  title: '1. anonymous browse',
  weight: 24,
  summary:
    'no account: `GET /categories` → `GET /services/search` (a catalogue term, 2 of 24 with a typo; 25% with a city, 20% sorted, 10% price-capped) → `GET /providers/:id` of one of the first five hits → `GET /providers/:id/slots` for that service (default 7 days); a search without hits ends the iteration',
  makeVu(context) {
    const { client, random } = context;
    return {
      async start() {},
      async iteration() {
        await client.send({ step: STEPS.categories, path: STEPS.categories.route, expect: [200] });
        const hits = await search(context);
        const hit = hits.length ? random.pick(hits.slice(0, 5)) : undefined;
        if (hit) {
          await client.send({ step: STEPS.provider, path: `/api/v1/providers/${hit.provider.id}`, expect: [200] });
          await client.send({
            step: STEPS.slots,
            path: `/api/v1/providers/${hit.provider.id}/slots?service_id=${hit.id}`,
            expect: [200],
          });
        }
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 2. Sign in → search → book → pay → view booking

/** Where a paid booking goes: `pending` until its provider confirms (or `confirmed` once they did). */
const AFTER_PAYMENT = new Set(['pending', 'confirmed']);

interface Booking {
  id: string;
  status: string;
  payment: { id: string; status: string } | null;
}

/**
 * Booking VU `index` of `count` books provider `index % bookable`; the VUs on one provider split its
 * slots by lane, so no two of them ever want the same start.
 */
export function bookingLane(index: number, count: number, bookable: number): { sharers: number; lane: number } {
  const provider = index % bookable;
  return { sharers: Math.floor((count - 1 - provider) / bookable) + 1, lane: Math.floor(index / bookable) };
}

/** The lane a start time belongs to: consecutive 15-minute grid points go to consecutive lanes. */
export const slotLane = (startsAt: string, sharers: number) => Math.floor(Date.parse(startsAt) / GRID_MS) % sharers;

const book: JourneySpec = {
  name: 'book',
  title: '2. book and pay',
  weight: 16,
  summary:
    "signs in once, then: `GET /services/search` → `POST /bookings` (Idempotency-Key) of the next free slot of its provider's 15-minute service paid online → `POST /payments/:id/simulate {outcome: succeeded}` (the simulated gateway's card step) → `GET /bookings/:id` (its payment must show `succeeded`; the booking is `pending`, or `confirmed` once its provider confirmed, or still `pending_payment` until the outbox moves it on, counted apart). Slots come from `GET /providers/:id/slots`, a week at a time, when its list runs out; VUs sharing a provider take alternate 15-minute grid points, so no two VUs ever want one slot (a 409 is unexpected)",
  makeVu(context) {
    const { client, data, index, count } = context;
    const provider = data.providers[index % data.bookable];
    if (!provider) throw new Error('no provider to book');
    const { sharers, lane } = bookingLane(index, count, data.bookable);
    const queue: string[] = [];
    let windowFrom = Date.now();
    let made = 0;

    const refill = async () => {
      const horizon = Date.now() + SLOT_HORIZON_MS;
      while (queue.length === 0 && windowFrom < horizon) {
        const to = Math.min(windowFrom + SLOT_WINDOW_MS, horizon);
        const answer = await client.send({
          step: STEPS.slots,
          path: `/api/v1/providers/${provider.id}/slots?service_id=${provider.bookingServiceId}&from=${iso(windowFrom)}&to=${iso(to)}`,
          expect: [200],
        });
        const { slots } = dataOf<{ slots: string[] }>(client, STEPS.slots, answer);
        for (const slot of slots) if (slotLane(slot, sharers) === lane) queue.push(slot);
        windowFrom = to;
      }
    };

    return {
      start: () => signIn(client, accountOf(context, 'book')),
      async iteration() {
        await search(context);
        if (queue.length === 0) await refill();
        const startsAt = queue.shift();
        if (!startsAt) {
          context.note('no free slot left in 60 days');
          client.finishedIteration();
          return;
        }
        made += 1;
        const created = dataOf<Booking>(
          client,
          STEPS.book,
          await client.send({
            step: STEPS.book,
            path: STEPS.book.route,
            headers: { 'idempotency-key': `load-${RUN_ID}-${index}-${made}` },
            body: { service_id: provider.bookingServiceId, starts_at: startsAt },
            expect: [201],
          }),
        );
        const paymentId = created.payment?.id;
        check(client, STEPS.book, created.status === 'pending_payment' && !!paymentId, 'not held for payment');
        const paid = dataOf<{ status: string }>(
          client,
          STEPS.pay,
          await client.send({
            step: STEPS.pay,
            path: `/api/v1/payments/${paymentId}/simulate`,
            body: { outcome: 'succeeded' },
            expect: [200],
          }),
        );
        check(client, STEPS.pay, paid.status === 'succeeded', `payment ${paid.status}`);
        const viewed = dataOf<Booking>(
          client,
          STEPS.viewBooking,
          await client.send({ step: STEPS.viewBooking, path: `/api/v1/bookings/${created.id}`, expect: [200] }),
        );
        check(client, STEPS.viewBooking, viewed.payment?.status === 'succeeded', `payment ${viewed.payment?.status}`);
        // The paid booking moves on to pending (or confirmed) through the outbox, shortly after the payment.
        if (viewed.status === 'pending_payment') context.note('paid booking still pending_payment when viewed');
        else check(client, STEPS.viewBooking, AFTER_PAYMENT.has(viewed.status), `paid booking is ${viewed.status}`);
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 3. Provider: dashboard → bookings → confirm

interface CalendarEntry {
  id: string;
  status: string;
  starts_at: string;
}

const CALENDAR_PAGE = 20;

const provider: JourneySpec = {
  name: 'provider',
  title: '3. provider',
  weight: 8,
  summary: `signs in once as one of the providers the booking VUs book, then: \`GET /provider/dashboard\` → \`GET /provider/bookings?from=&limit=${CALENDAR_PAGE}\` (from its earliest booking not yet settled) → \`POST /bookings/:id/confirm\` of the first \`pending\` one (skipped when none is pending)`,
  makeVu(context) {
    const { client, data, index } = context;
    const own = data.providers[index];
    if (!own) throw new Error(`no provider for VU ${index}`);
    let from = Date.now();
    return {
      start: () => signIn(client, own.owner),
      async iteration() {
        await client.send({ step: STEPS.dashboard, path: STEPS.dashboard.route, expect: [200] });
        const entries = dataOf<CalendarEntry[]>(
          client,
          STEPS.calendar,
          await client.send({
            step: STEPS.calendar,
            path: `${STEPS.calendar.route}?from=${iso(from)}&limit=${CALENDAR_PAGE}`,
            expect: [200],
          }),
        );
        // Look again from the first booking still waiting for payment or confirmation.
        const open = entries.find((entry) => entry.status === 'pending' || entry.status === 'pending_payment');
        const last = entries[entries.length - 1];
        if (open) from = Date.parse(open.starts_at);
        else if (last) from = Date.parse(last.starts_at) + 1;
        const pending = entries.find((entry) => entry.status === 'pending');
        if (!pending) {
          context.note('nothing to confirm');
          client.finishedIteration();
          return;
        }
        const confirmed = dataOf<{ status: string }>(
          client,
          STEPS.confirm,
          await client.send({ step: STEPS.confirm, path: `/api/v1/bookings/${pending.id}/confirm`, expect: [200] }),
        );
        check(client, STEPS.confirm, confirmed.status === 'confirmed', `confirmed booking is ${confirmed.status}`);
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 4. Wellness: profile → diet plan → protection plan → content item

interface Plan {
  items: { slug: string; tier: string }[];
}

const wellness: JourneySpec = {
  name: 'wellness',
  title: '4. wellness',
  weight: 14,
  summary:
    'signs in once (a complete profile, varied by age, diet, activity and country), then: `GET /me/profile` → `GET /me/recommendations/diet-plan` → `GET /me/recommendations/protection-plan` → `GET /content/:slug` of a free item of those plans',
  makeVu(context) {
    const { client, random, data } = context;
    const plan = async (planStep: Step) =>
      dataOf<Plan>(client, planStep, await client.send({ step: planStep, path: planStep.route, expect: [200] }));
    return {
      start: () => signIn(client, accountOf(context, 'wellness')),
      async iteration() {
        await client.send({ step: STEPS.profile, path: STEPS.profile.route, expect: [200] });
        const diet = await plan(STEPS.dietPlan);
        const protection = await plan(STEPS.protectionPlan);
        const free = [...diet.items, ...protection.items].filter((item) => item.tier === 'free');
        const slug = free.length ? random.pick(free).slug : random.pick(data.content.free).slug;
        await client.send({ step: STEPS.contentItem, path: `/api/v1/content/${slug}`, expect: [200] });
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 5. Content reader: list → article → premium teaser

const LIST_QUERIES = ['', '?type=article', '?type=tip', '?limit=10', '?locale=en'];

const reader: JourneySpec = {
  name: 'reader',
  title: '5. content reader',
  weight: 14,
  summary:
    'signs in once (free plan), then: `GET /content` (one of five list queries) → `GET /content/:slug` of a free item of that page → `GET /content/:slug` of a premium item (expected `403 PREMIUM_REQUIRED` with its title and summary as the teaser)',
  makeVu(context) {
    const { client, random, data } = context;
    return {
      start: () => signIn(client, accountOf(context, 'reader')),
      async iteration() {
        const page = dataOf<ContentRef[]>(
          client,
          STEPS.contentList,
          await client.send({
            step: STEPS.contentList,
            path: `${STEPS.contentList.route}${random.pick(LIST_QUERIES)}`,
            expect: [200],
          }),
        );
        const free = page.filter((item) => item.tier === 'free');
        const article = free.length ? random.pick(free) : random.pick(data.content.free);
        await client.send({ step: STEPS.article, path: `/api/v1/content/${article.slug}`, expect: [200] });
        const teaser = await client.send({
          step: STEPS.teaser,
          path: `/api/v1/content/${random.pick(data.content.premium).slug}`,
          expect: [403],
        });
        const body = teaser.json<{ code?: string }>();
        check(client, STEPS.teaser, body?.code === 'PREMIUM_REQUIRED', `403 ${body?.code ?? 'without a code'}`);
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 6. Reminders: create → list → delete

const REMINDER_TITLES = ['Evening walk', 'Drink water', 'Stretch break', 'Plan the week', 'Read an article'];
const RECURRENCES = [null, { kind: 'daily' }, { kind: 'weekly' }, { kind: 'monthly' }];

const reminders: JourneySpec = {
  name: 'reminders',
  title: '6. reminders',
  weight: 8,
  summary:
    'signs in once (a phone number and WhatsApp consent, free plan), then: `POST /me/reminders` (WhatsApp, 1–7 days ahead, once/daily/weekly/monthly) → `GET /me/reminders` (must list it) → `DELETE /me/reminders/:id`',
  makeVu(context) {
    const { client, random } = context;
    /** Reminders an interrupted iteration left behind: deleted first, so the free plan's two are never used up. */
    const leftOver: string[] = [];
    const remove = async (id: string, expect: number[]) => {
      await client.send({ step: STEPS.deleteReminder, path: `/api/v1/me/reminders/${id}`, expect });
      leftOver.splice(leftOver.indexOf(id), 1);
    };
    return {
      start: () => signIn(client, accountOf(context, 'reminders')),
      async iteration() {
        // 404: its delete went through but the answer was lost.
        for (const id of [...leftOver]) await remove(id, [204, 404]);
        const startsAt = Math.floor((Date.now() + random.int(1, 7) * DAY_MS) / 60_000) * 60_000;
        const created = dataOf<{ id: string }>(
          client,
          STEPS.createReminder,
          await client.send({
            step: STEPS.createReminder,
            path: STEPS.createReminder.route,
            body: {
              title: random.pick(REMINDER_TITLES),
              starts_at: iso(startsAt),
              time_zone: 'Europe/London',
              recurrence: random.pick(RECURRENCES),
              channel: 'whatsapp',
            },
            expect: [201],
          }),
        );
        leftOver.push(created.id);
        const listed = dataOf<{ id: string }[]>(
          client,
          STEPS.listReminders,
          await client.send({ step: STEPS.listReminders, path: STEPS.listReminders.route, expect: [200] }),
        );
        check(
          client,
          STEPS.listReminders,
          listed.some((item) => item.id === created.id),
          'new reminder not listed',
        );
        await remove(created.id, [204]);
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 7. App analytics: event batches

interface IngestResult {
  accepted: number;
  rejected: unknown[];
  dropped_no_consent: number;
}

/** One batch as an app sends it: what the person looked at in the last minutes. */
function eventBatch(context: VuContext) {
  const { random, data } = context;
  const content = [...data.content.free, ...data.content.premium];
  return Array.from({ length: context.eventsPerBatch }, () => {
    const time = iso(Date.now() - random.int(0, 300_000));
    const base = { time, device_id: `load-device-${context.index}` };
    const kind = random.int(0, 3);
    if (kind === 0) {
      const item = random.pick(content);
      return {
        ...base,
        name: 'content_viewed',
        properties: { content_id: item.id, type: item.type, tier: item.tier },
      };
    }
    if (kind === 1) {
      const name = random.chance(0.5) ? 'diet_plan_viewed' : 'protection_plan_viewed';
      return { ...base, name, properties: { personalised: true, items: random.int(2, 8) } };
    }
    if (kind === 2) {
      return { ...base, name: 'service_searched', properties: { results: random.int(0, 20), has_query: true } };
    }
    const shown = random.pick(data.providers);
    return {
      ...base,
      name: 'slot_viewed',
      properties: { provider_id: shown.id, service_id: random.pick(shown.serviceIds), slots: random.int(0, 96) },
    };
  });
}

const analytics: JourneySpec = {
  name: 'analytics',
  title: '7. app analytics',
  weight: 10,
  summary:
    'signs in once (analytics consent), then: `POST /events` with one batch of events the app saw (content, plan, search and slot views; all must be accepted, none dropped)',
  makeVu(context) {
    const { client } = context;
    return {
      start: () => signIn(client, accountOf(context, 'analytics')),
      async iteration() {
        const result = dataOf<IngestResult>(
          client,
          STEPS.events,
          await client.send({
            step: STEPS.events,
            path: STEPS.events.route,
            body: { events: eventBatch(context) },
            expect: [202],
          }),
        );
        check(
          client,
          STEPS.events,
          result.accepted === context.eventsPerBatch && result.rejected.length === 0 && result.dropped_no_consent === 0,
          'events not all accepted',
        );
        client.finishedIteration();
      },
    };
  },
};

// ---------------------------------------------------------------------------------------------
// 8. Admin: users, flags, one report

const USER_QUERIES = ['', '?role=user', '?role=provider', '?plan=free', '?email=load-'];
const REPORTS = [
  'funnel?journey=wellness',
  'funnel?journey=marketplace',
  'retention',
  'activation',
  'engagement',
  'adoption',
  'conversion',
  'content',
];

const admin: JourneySpec = {
  name: 'admin',
  title: '8. admin',
  weight: 6,
  summary: `signs in once as an admin, then: \`GET /admin/users\` (one of five filters) → \`GET /admin/flags\` → one of ${REPORTS.length} analytics reports (\`GET /admin/analytics/:report\`, default 30-day range, cached 5 minutes by the app)`,
  makeVu(context) {
    const { client, random } = context;
    return {
      start: () => signIn(client, accountOf(context, 'admin')),
      async iteration() {
        await client.send({
          step: STEPS.adminUsers,
          path: `${STEPS.adminUsers.route}${random.pick(USER_QUERIES)}`,
          expect: [200],
        });
        await client.send({ step: STEPS.adminFlags, path: STEPS.adminFlags.route, expect: [200] });
        await client.send({
          step: STEPS.adminReport,
          path: `/api/v1/admin/analytics/${random.pick(REPORTS)}`,
          expect: [200],
        });
        client.finishedIteration();
      },
    };
  },
};

export const JOURNEYS: JourneySpec[] = [browse, book, provider, wellness, reader, reminders, analytics, admin];

/** VUs per journey for `total` VUs, in the journeys' proportions (largest remainders; at least one each). */
export function vuCounts(total: number, journeys: JourneySpec[] = JOURNEYS): Record<JourneyName, number> {
  const weights = journeys.reduce((sum, journey) => sum + journey.weight, 0);
  const floors = journeys.map((journey) => Math.max(1, Math.floor((total * journey.weight) / weights)));
  let left = total - floors.reduce((sum, n) => sum + n, 0);
  const byRemainder = journeys
    .map((journey, i) => ({
      i,
      remainder: (total * journey.weight) / weights - Math.floor((total * journey.weight) / weights),
    }))
    .sort((a, b) => b.remainder - a.remainder);
  for (const { i } of byRemainder) {
    if (left <= 0) break;
    floors[i] = (floors[i] as number) + 1;
    left -= 1;
  }
  return Object.fromEntries(journeys.map((journey, i) => [journey.name, floors[i] as number])) as Record<
    JourneyName,
    number
  >;
}

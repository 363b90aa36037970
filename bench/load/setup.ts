/**
 * The load test's data, made through the public API of the started app (on top of the demo
 * seed), the way the product's own clients would make it, so it is exactly what the app keeps:
 *
 *   providers   signed up, made providers by the demo admin, profile filled (UTC, confirms by
 *               hand), verified, open 00:00–24:00 every day, payouts onboarded (the simulated
 *               gateway), a 15-minute service paid online (what booking VUs book) and more
 *               services paid at the visit, named from a list of kinds, qualifiers and audiences
 *   customers   one account per signed-in virtual user: wellness VUs with a complete profile,
 *               reminder VUs with a phone number and WhatsApp consent, analytics VUs with
 *               analytics consent; admins made admins by the demo admin
 *
 * Nothing here is timed; the virtual users sign in again when the run starts.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { identitySeeder } from '../../src/modules/identity/identity.seed.js';
import { mapLimit } from '../support.js';
import { Client, type Method } from './client.js';
import {
  type Account,
  BOOKING_SERVICE_MINUTES,
  type ContentRef,
  JOURNEY_NAMES,
  type JourneyName,
  type LoadData,
  type LoadProvider,
} from './data.js';
import { createRandom, type Random } from './random.js';

export interface SetupPlan {
  /** Virtual users per journey. */
  vus: Record<JourneyName, number>;
  /** Providers in the catalogue besides the demo ones (at least one per provider VU). */
  providers: number;
  /** Services per provider, the one paid online included. */
  servicesPerProvider: number;
}

export interface Target {
  host: string;
  port: number;
}

/** Parallel set-up requests: enough to overlap round trips, few enough for one argon2 thread. */
const SETUP_CONCURRENCY = 4;
const PAYOUTS_READY_TIMEOUT_MS = 20_000;
/** Tries of one set-up request while the app answers 503. */
const SETUP_ATTEMPTS = 10;
const PAYOUTS_POLL_MS = 200;

// Catalogue words: what the providers offer, and what the browsing VUs search for.
const KINDS: { category: string; name: string }[] = [
  { category: 'sports-massage', name: 'Sports massage' },
  { category: 'sports-massage', name: 'Deep tissue massage' },
  { category: 'relaxation-massage', name: 'Swedish massage' },
  { category: 'relaxation-massage', name: 'Hot stone massage' },
  { category: 'massage', name: 'Back and shoulder massage' },
  { category: 'yoga-pilates', name: 'Vinyasa yoga' },
  { category: 'yoga-pilates', name: 'Reformer pilates' },
  { category: 'yoga-pilates', name: 'Mat pilates' },
  { category: 'nutrition-coaching', name: 'Nutrition consultation' },
  { category: 'nutrition-coaching', name: 'Meal plan review' },
  { category: 'skin-care', name: 'Hydrating facial' },
  { category: 'skin-care', name: 'Acne care session' },
  { category: 'physiotherapy', name: 'Physiotherapy assessment' },
  { category: 'physiotherapy', name: 'Knee rehabilitation' },
  { category: 'physiotherapy', name: 'Back pain treatment' },
  { category: 'mental-wellbeing', name: 'Mindfulness coaching' },
  { category: 'mental-wellbeing', name: 'Guided meditation' },
  { category: 'mental-wellbeing', name: 'Breathwork session' },
];
const QUALIFIERS = ['', 'Express ', 'Extended ', 'Home visit ', 'Online ', 'Gentle ', 'Introductory '];
const AUDIENCES = ['', ' for runners', ' for office workers', ' for seniors', ' for new parents'];
const CITIES = ['London', 'Manchester', 'Birmingham', 'Leeds', 'Glasgow', 'Bristol', 'Edinburgh', 'Cardiff'];
const DURATIONS = [30, 45, 60, 60, 90];
/** What people type: mostly words of the catalogue, some with a typo (the trigram fallback). */
const SEARCH_TERMS = [
  'massage',
  'sports massage',
  'deep tissue',
  'hot stone',
  'yoga',
  'pilates',
  'reformer pilates',
  'physiotherapy',
  'knee',
  'back pain',
  'facial',
  'nutrition',
  'meal plan',
  'meditation',
  'mindfulness',
  'breathwork',
  'relaxation',
  'for runners',
  'home visit',
  'online',
  'seniors',
  'physio assessment',
  'masage',
  'pilats',
];

const GENDERS = ['female', 'female', 'female', 'male', 'non_binary'];
const DIETS = ['omnivore', 'vegetarian', 'vegan', 'pescatarian', 'flexitarian', 'halal'];
const ACTIVITY = ['sedentary', 'light', 'moderate', 'active'];
const COUNTRIES: { country: string; region: string; language: string }[] = [
  { country: 'GB', region: 'England', language: 'en' },
  { country: 'KE', region: 'Nairobi', language: 'en' },
  { country: 'NG', region: 'Lagos', language: 'en' },
  { country: 'IN', region: 'Maharashtra', language: 'en' },
];

/**
 * One set-up request: its answer's `data`, or an error naming the request and the answer. A 503
 * (the app shedding load on a busy machine) is tried again after its Retry-After, as a client would.
 */
class SetupApi {
  constructor(private readonly client: Client) {}

  async call<T>(method: Method, path: string, options: { body?: unknown; token?: string } = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.client.send({
        step: { name: 'set-up', method, route: path },
        path,
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.token ? { headers: { authorization: `Bearer ${options.token}` } } : {}),
        expect: attempt < SETUP_ATTEMPTS ? [200, 201, 204, 503] : [200, 201, 204],
      });
      if (answer.status !== 503) return answer.json<{ data: T } | undefined>()?.data as T;
      await sleep(Math.min(5, Number(answer.headers['retry-after']) || 1) * 1000);
    }
  }

  close() {
    this.client.close();
  }
}

interface Tokens {
  access_token: string;
  refresh_token: string;
}

const setupClient = (target: Target) =>
  new SetupApi(
    new Client({
      ...target,
      journey: 'set-up',
      recorderAt: () => undefined,
      thinkMs: () => 0,
      stopped: () => false,
      etags: false,
      timeoutMs: 60_000,
    }),
  );

/** `fn` over `items` on SETUP_CONCURRENCY connections. */
async function inParallel<T, R>(target: Target, items: T[], fn: (api: SetupApi, item: T, index: number) => Promise<R>) {
  const apis = Array.from({ length: Math.min(SETUP_CONCURRENCY, Math.max(1, items.length)) }, () =>
    setupClient(target),
  );
  const free = [...apis];
  try {
    return await mapLimit(items, apis.length, async (item, index) => {
      const api = free.pop() as SetupApi;
      try {
        return await fn(api, item, index);
      } finally {
        free.push(api);
      }
    });
  } finally {
    for (const api of apis) api.close();
  }
}

/** A password no breach list has, the same for every load account of this run. */
const runPassword = () => `Load-${randomBytes(6).toString('hex')}-passphrase`;

async function signUp(api: SetupApi, email: string, password: string, extra: Record<string, string> = {}) {
  const data = await api.call<{ user: { id: string }; tokens: Tokens }>('POST', '/api/v1/auth/signup', {
    body: { email, password, ...extra },
  });
  return { account: { userId: data.user.id, email, password } satisfies Account, tokens: data.tokens };
}

function demoAdminLogin() {
  const admin = identitySeeder.logins?.find((login) => login.role === 'admin');
  if (!admin) throw new Error('the demo seed has no admin login (src/modules/identity/identity.seed.ts)');
  return admin;
}

async function setRole(api: SetupApi, adminToken: string, userId: string, role: 'provider' | 'admin') {
  await api.call('PATCH', `/api/v1/admin/users/${userId}`, { token: adminToken, body: { role } });
  // Tokens issued before the change, to the millisecond, are refused.
  await sleep(2);
}

function serviceName(random: Random, kind: string, minutes: number) {
  return `${random.pick(QUALIFIERS)}${kind}${random.pick(AUDIENCES)} (${minutes} min)`.replace(/^./, (c) =>
    c.toUpperCase(),
  );
}

async function waitForPayouts(api: SetupApi, token: string) {
  const deadline = Date.now() + PAYOUTS_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const earnings = await api.call<{ payouts_enabled: boolean }>('GET', '/api/v1/provider/earnings', { token });
    if (earnings.payouts_enabled) return;
    await sleep(PAYOUTS_POLL_MS);
  }
  throw new Error(
    `payout onboarding did not complete within ${PAYOUTS_READY_TIMEOUT_MS} ms (the outbox applies it: are the workers running?)`,
  );
}

interface ProviderContext {
  adminToken: string;
  categories: Map<string, string>;
  password: string;
  servicesPerProvider: number;
}

/** A provider before its paid service: that one waits until the outbox has applied its payout onboarding. */
interface DraftProvider {
  provider: Omit<LoadProvider, 'bookingServiceId'>;
  token: string;
  categoryId: string;
  kind: string;
}

const categoryOf = (context: ProviderContext, slug: string) =>
  context.categories.get(slug) ?? (context.categories.values().next().value as string);

/** Signed up, made a provider, profile, verified, open every hour, onboarded for payouts, services paid at the visit. */
async function draftProvider(api: SetupApi, context: ProviderContext, index: number): Promise<DraftProvider> {
  const random = createRandom(1000 + index);
  const { account, tokens: first } = await signUp(api, `load-provider-${index}@load.care`, context.password, {
    name: `Load Provider ${index}`,
  });
  await setRole(api, context.adminToken, account.userId, 'provider');
  const { access_token: token } = await api.call<Tokens>('POST', '/api/v1/auth/refresh', {
    body: { refresh_token: first.refresh_token },
  });
  const city = CITIES[index % CITIES.length] as string;
  const profile = await api.call<{ id: string }>('PATCH', '/api/v1/provider/profile', {
    token,
    body: {
      display_name: `${random.pick(['Active', 'Calm', 'Bright', 'Core', 'Balance'])} ${random.pick(['Studio', 'Clinic', 'Wellness', 'Practice'])} ${city} ${index}`,
      bio: 'One-to-one sessions with a registered practitioner.',
      city,
      country: 'GB',
      languages: ['en'],
      time_zone: 'UTC',
      auto_confirm: false,
    },
  });
  await api.call('PATCH', `/api/v1/admin/providers/${profile.id}`, {
    token: context.adminToken,
    body: { verification: 'verified' },
  });
  await api.call('PUT', '/api/v1/provider/availability', {
    token,
    body: {
      time_zone: 'UTC',
      weekly: [1, 2, 3, 4, 5, 6, 7].map((day) => ({ day_of_week: day, start: '00:00', end: '24:00' })),
      breaks: [],
      exceptions: [],
    },
  });
  await api.call('POST', '/api/v1/provider/payouts/onboarding', { token });

  const serviceIds: string[] = [];
  for (let i = 1; i < context.servicesPerProvider; i++) {
    const kind = random.pick(KINDS);
    const minutes = random.pick(DURATIONS);
    const service = await api.call<{ id: string }>('POST', '/api/v1/provider/services', {
      token,
      body: {
        name: serviceName(random, kind.name, minutes),
        description: 'Tailored to your goals, with notes to take home.',
        category_id: categoryOf(context, kind.category),
        duration_minutes: minutes,
        buffer_minutes: random.pick([0, 0, 10, 15]),
        price_minor: random.int(30, 200) * 50,
        currency: 'GBP',
      },
    });
    serviceIds.push(service.id);
  }
  const kind = random.pick(KINDS);
  return {
    provider: { id: profile.id, owner: account, serviceIds },
    token,
    categoryId: categoryOf(context, kind.category),
    kind: kind.name,
  };
}

/** The draft's 15-minute service paid online, once its payouts are enabled. */
async function finishProvider(api: SetupApi, draft: DraftProvider): Promise<LoadProvider> {
  await waitForPayouts(api, draft.token);
  const booking = await api.call<{ id: string }>('POST', '/api/v1/provider/services', {
    token: draft.token,
    body: {
      name: `Express ${draft.kind.toLowerCase()} (${BOOKING_SERVICE_MINUTES} min, paid online)`,
      description: 'A short session, paid when you book.',
      category_id: draft.categoryId,
      duration_minutes: BOOKING_SERVICE_MINUTES,
      buffer_minutes: 0,
      price_minor: 2000,
      currency: 'GBP',
      payment: 'required',
    },
  });
  return {
    ...draft.provider,
    bookingServiceId: booking.id,
    serviceIds: [...draft.provider.serviceIds, booking.id],
  };
}

/** One account per signed-in VU, with what its journey needs. */
async function makeCustomer(
  api: SetupApi,
  context: { adminToken: string; password: string },
  { journey, index }: { journey: Exclude<JourneyName, 'browse' | 'provider'>; index: number },
) {
  const phone: Record<string, string> =
    journey === 'reminders' ? { phone: `+4477009${String(index).padStart(5, '0')}` } : {};
  const { account, tokens } = await signUp(api, `load-${journey}-${index}@load.care`, context.password, {
    name: `Load ${journey} ${index}`,
    ...phone,
  });
  if (journey === 'admin') await setRole(api, context.adminToken, account.userId, 'admin');
  else await prepareCustomer(api, journey, tokens.access_token, index);
  return { journey, account };
}

/** What each journey's accounts need besides signing up. */
async function prepareCustomer(api: SetupApi, journey: JourneyName, token: string, index: number) {
  if (journey === 'wellness') {
    const place = COUNTRIES[index % COUNTRIES.length] as (typeof COUNTRIES)[number];
    await api.call('PUT', '/api/v1/me/profile', {
      token,
      body: {
        age: 21 + ((index * 7) % 45),
        gender: GENDERS[index % GENDERS.length],
        country: place.country,
        region: place.region,
        diet_preference: DIETS[index % DIETS.length],
        activity_level: ACTIVITY[index % ACTIVITY.length],
        preferred_language: place.language,
      },
    });
  }
  if (journey === 'reminders') {
    await api.call('PUT', '/api/v1/me/consents/whatsapp', { token, body: { granted: true } });
  }
  if (journey === 'analytics') {
    await api.call('PUT', '/api/v1/me/consents/analytics', { token, body: { granted: true } });
  }
}

async function contentRefs(api: SetupApi, tier: 'free' | 'premium'): Promise<ContentRef[]> {
  const items = await api.call<ContentRef[]>('GET', `/api/v1/content?tier=${tier}&limit=100`);
  return items.map(({ id, slug, type, tier: itemTier }) => ({ id, slug, type, tier: itemTier }));
}

/** Makes the plan's accounts and providers; returns what the journeys need to know about them. */
export async function prepareData(target: Target, plan: SetupPlan, log: (line: string) => void): Promise<LoadData> {
  const password = runPassword();
  const admin = setupClient(target);
  let adminToken: string;
  let categories: Map<string, string>;
  let content: LoadData['content'];
  try {
    const login = demoAdminLogin();
    adminToken = (
      await admin.call<Tokens>('POST', '/api/v1/auth/login', { body: { email: login.email, password: login.password } })
    ).access_token;
    const list = await admin.call<{ id: string; slug: string }[]>('GET', '/api/v1/categories');
    categories = new Map(list.map((category) => [category.slug, category.id]));
    content = { free: await contentRefs(admin, 'free'), premium: await contentRefs(admin, 'premium') };
  } finally {
    admin.close();
  }
  if (content.free.length === 0 || content.premium.length === 0) {
    throw new Error('the content reader needs free and premium published items: is the demo seed in?');
  }

  const providerCount = Math.max(plan.providers, plan.vus.provider, 1);
  const providerContext = { adminToken, categories, password, servicesPerProvider: plan.servicesPerProvider };
  const customers = (['book', 'wellness', 'reader', 'reminders', 'analytics', 'admin'] as const).flatMap((journey) =>
    Array.from({ length: plan.vus[journey] }, (_, index) => ({ journey, index })),
  );
  // Customers sign up while the outbox applies the providers' payout onboarding.
  const [drafts, made] = await Promise.all([
    inParallel(
      target,
      Array.from({ length: providerCount }, (_, i) => i),
      (api, index) => draftProvider(api, providerContext, index),
    ),
    inParallel(target, customers, (api, customer) => makeCustomer(api, { adminToken, password }, customer)),
  ]);
  const providers = await inParallel(target, drafts, finishProvider);
  log(
    `  ${providers.length} providers with ${plan.servicesPerProvider} services each, ${made.length} customer and admin accounts`,
  );

  const accounts = Object.fromEntries(JOURNEY_NAMES.map((name) => [name, [] as Account[]])) as LoadData['accounts'];
  accounts.provider = providers.slice(0, plan.vus.provider).map((provider) => provider.owner);
  for (const { journey, account } of made) accounts[journey].push(account);

  return {
    accounts,
    providers,
    bookable: Math.max(1, Math.min(plan.vus.provider, providers.length)),
    searchTerms: SEARCH_TERMS,
    cities: CITIES,
    content,
  };
}

/**
 * OWASP API10:2023 Unsafe Consumption of APIs: what the payment gateways and Twilio send us is
 * checked before it is believed. Webhooks with a bad signature (Stripe: wrong secret, none, stale,
 * tampered body; Moyasar: wrong or missing secret_token; Twilio: bad X-Twilio-Signature) are
 * refused with 400 WEBHOOK_SIGNATURE_INVALID, change nothing and are recorded as `webhook_signature`
 * security events. A gateway that answers garbage, a 5xx, or keeps the request waiting leaves the
 * booking unpaid and its slot free, and does not hold up anyone else's requests; a gateway answer
 * for another amount or currency than we asked for is not taken as payment. A webhook delivered
 * again applies once, and a Moyasar webhook is only a hint: the payment is fetched before it counts.
 * Moyasar is reached through a hostile stand-in on 127.0.0.1 in front of the fake Moyasar.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows } from '../../src/infra/db/client.js';
import { START, WEEKDAY_SCHEDULE } from '../bookings/helpers.js';
import type { MoyasarWebhookEvent } from '../fixtures/fake-moyasar.js';
import { buildTestApp, createTestClock, type TestApp } from '../helpers/app.js';
import { drainOutbox, type PaymentFakes, startPaymentFakes } from '../helpers/payments.js';
import { createUser, type TestUser } from '../helpers/users.js';

const SAR_PRICE = 15_000;
const TWILIO = {
  TWILIO_ACCOUNT_SID: `AC${'0f'.repeat(16)}`,
  TWILIO_AUTH_TOKEN: 'twilio-auth-token-0123456789abcdef',
  TWILIO_FROM: '+15005550006',
  // Nothing listens there: no SMS is sent in this file.
  TWILIO_API_URL: 'http://127.0.0.1:9',
  PUBLIC_API_URL: 'https://api.care.test',
};
const TWILIO_CALLBACK = `${TWILIO.PUBLIC_API_URL}/api/v1/webhooks/twilio/status`;

type Behaviour =
  | { kind: 'forward'; patch?: Record<string, unknown> }
  | { kind: 'status'; status: number; body: string; type: string }
  | { kind: 'hold' };

/**
 * Moyasar as a hostile network sees it: forwards to the fake Moyasar, or answers what the test
 * says instead (garbage, an error status, a payment rewritten), or holds the request until told.
 */
async function startHostileGateway(upstream: string) {
  let behaviour: Behaviour = { kind: 'forward' };
  const held: ServerResponse[] = [];
  let arrived: () => void = () => {};
  const handle = async (request: IncomingMessage, response: ServerResponse, body: string) => {
    const current = behaviour;
    if (current.kind === 'status') {
      response.writeHead(current.status, { 'content-type': current.type });
      response.end(current.body);
      return;
    }
    if (current.kind === 'hold') {
      held.push(response);
      arrived();
      return;
    }
    const forwarded = await fetch(`${upstream}${request.url}`, {
      method: request.method,
      headers: {
        authorization: String(request.headers.authorization ?? ''),
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body || undefined,
    });
    let text = await forwarded.text();
    if (current.patch && forwarded.ok) text = JSON.stringify({ ...JSON.parse(text), ...current.patch });
    response.writeHead(forwarded.status, { 'content-type': 'application/json' });
    response.end(text);
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      handle(request, response, Buffer.concat(chunks).toString('utf8')).catch(() => response.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set(next: Behaviour) {
      behaviour = next;
    },
    /** Resolves once a request is being held. */
    nextHeld: () =>
      new Promise<void>((resolve) => {
        arrived = resolve;
      }),
    /** Lets the held requests go: the connection drops, as when a gateway gives up. */
    release() {
      for (const response of held.splice(0)) response.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of held.splice(0)) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const clock = createTestClock(START);
let fakes: PaymentFakes;
let gateway: Awaited<ReturnType<typeof startHostileGateway>>;
let t: TestApp;
let admin: TestUser;
let provider: TestUser;
let customer: TestUser;
let sarServiceId: string;
let visitServiceId: string;
let address = 10;
const nextIp = () => `198.51.100.${address++}`;

const expectStatus = (response: { statusCode: number; body: string }, status: number) => {
  expect(response.statusCode, response.body).toBe(status);
  return response.body ? JSON.parse(response.body) : undefined;
};
const send = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, who?: TestUser, payload?: object) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: who?.headers ?? {}, payload });

/** A free start on Tuesday 23 March 2027 (the provider works 09:00–17:00 London, GMT, lunch 12–13). */
const slot = (hour: number, day = 23) => `2027-03-${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;

const bookSar = (startsAt: string, token: string) =>
  send('POST', '/bookings', customer, {
    service_id: sarServiceId,
    starts_at: startsAt,
    payment_method: 'mada',
    payment_token: token,
  });

/** What was stored for bookings at `startsAt`: their statuses, their payments, and the captures. */
async function stateAt(startsAt: string) {
  const bookings = await queryRows<{ id: string; status: string }>(
    t.app.platform.db,
    sql`select id, status from bookings where service_id = ${sarServiceId} and starts_at = ${startsAt}`,
  );
  const payments = await queryRows<{ id: string; status: string; captured_minor: number }>(
    t.app.platform.db,
    sql`select p.id, p.status, p.captured_minor::int from payments p join bookings b on b.id = p.booking_id
        where b.service_id = ${sarServiceId} and b.starts_at = ${startsAt}`,
  );
  const captures = await queryRows<{ n: number }>(
    t.app.platform.db,
    sql`select count(*)::int as n from ledger_entries e join payments p on p.id = e.payment_id
        join bookings b on b.id = p.booking_id
        where e.kind = 'capture' and b.service_id = ${sarServiceId} and b.starts_at = ${startsAt}`,
  );
  return { bookings, payments, captures: captures[0]?.n ?? 0 };
}

/** The one booking at `startsAt` was released unpaid, and the slot can be booked again. */
async function expectUnpaidAndFree(startsAt: string) {
  const state = await stateAt(startsAt);
  expect(state.bookings).toHaveLength(1);
  expect(
    state.bookings.every((booking) => booking.status === 'cancelled'),
    JSON.stringify(state),
  ).toBe(true);
  expect(state.payments.every((payment) => payment.status !== 'succeeded' && payment.captured_minor === 0)).toBe(true);
  expect(state.captures).toBe(0);
  const slots = expectStatus(
    await send(
      'GET',
      `/providers/${await providerId()}/slots?service_id=${sarServiceId}&from=${startsAt}&to=${slot(17)}`,
    ),
    200,
  ).data.slots as string[];
  expect(slots).toContain(startsAt);
}

let cachedProviderId: string | undefined;
const providerId = async () => {
  cachedProviderId ??= expectStatus(await send('GET', '/provider/profile', provider), 200).data.id as string;
  return cachedProviderId as string;
};

beforeAll(async () => {
  fakes = await startPaymentFakes({ clock });
  gateway = await startHostileGateway(fakes.moyasar.url);
  t = await buildTestApp({ clock, env: { ...fakes.env, MOYASAR_API_URL: gateway.url, ...TWILIO } });
  [admin, provider, customer] = await Promise.all([
    createUser(t.app, { role: 'admin' }),
    createUser(t.app, { role: 'provider' }),
    createUser(t.app),
  ]);
  const category = expectStatus(
    await send('POST', '/admin/categories', admin, { slug: 'cupping', name: 'Cupping' }),
    201,
  ).data.id;
  const profile = expectStatus(
    await send('PATCH', '/provider/profile', provider, {
      display_name: 'Riyadh Wellness',
      time_zone: 'Europe/London',
      auto_confirm: false,
    }),
    200,
  ).data;
  expectStatus(await send('PATCH', `/admin/providers/${profile.id}`, admin, { verification: 'verified' }), 200);
  expectStatus(await send('PUT', '/provider/availability', provider, WEEKDAY_SCHEDULE), 200);
  // Paid services need a payout account: onboarding at Stripe Connect, finished there.
  const link = expectStatus(await send('POST', '/provider/payouts/onboarding', provider), 200).data;
  const accountId = new URL(link.url).pathname.split('/').at(-1) as string;
  expect((await deliverStripe(fakes.stripe.completeOnboarding(accountId), {}, '127.0.0.1')).statusCode).toBe(200);
  await drainOutbox(t);
  const service = async (fields: Record<string, unknown>) =>
    expectStatus(
      await send('POST', '/provider/services', provider, {
        category_id: category,
        duration_minutes: 60,
        buffer_minutes: 0,
        ...fields,
      }),
      201,
    ).data.id as string;
  sarServiceId = await service({ name: 'Cupping', price_minor: SAR_PRICE, currency: 'SAR', payment: 'required' });
  visitServiceId = await service({ name: 'Consultation', price_minor: 5_000, currency: 'GBP' });
});

afterAll(async () => {
  await t?.close();
  await gateway?.close();
  await fakes?.close();
});

/** Delivers a Stripe event as Stripe does, signed by the SDK (or not, or badly), from `ip`. */
function deliverStripe(
  event: object,
  options: { secret?: string; timestamp?: number; signature?: string | null; body?: string } = {},
  ip = nextIp(),
) {
  const payload = JSON.stringify(event, null, 2);
  const signature =
    options.signature === undefined
      ? fakes.stripe.sign(payload, { secret: options.secret, timestamp: options.timestamp })
      : options.signature;
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/stripe',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      ...(signature === null ? {} : { 'stripe-signature': signature }),
    },
    payload: options.body ?? payload,
    remoteAddress: ip,
  });
}

function deliverMoyasar(webhook: MoyasarWebhookEvent, secretToken?: string | null, ip = nextIp()) {
  const { secret_token: token, ...rest } = webhook;
  const body = secretToken === null ? rest : { ...rest, secret_token: secretToken ?? token };
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/moyasar',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
    remoteAddress: ip,
  });
}

describe('webhook signatures', () => {
  it('refuses forged Stripe and Moyasar webhooks with 400 WEBHOOK_SIGNATURE_INVALID, stores nothing, records each', async () => {
    const forged = {
      id: `evt_forged_${randomUUID().slice(0, 8)}`,
      object: 'event',
      type: 'payment_intent.succeeded',
      created: Math.floor(clock.now().getTime() / 1000),
      data: { object: { id: 'pi_forged', object: 'payment_intent', status: 'succeeded', amount: 1, currency: 'gbp' } },
    };
    const payload = JSON.stringify(forged, null, 2);
    const attempts: [string, () => Promise<{ statusCode: number; body: string }>, string][] = [];
    const stripe = (name: string, options: Parameters<typeof deliverStripe>[1]) => {
      const ip = nextIp();
      attempts.push([name, () => deliverStripe(forged, options, ip), ip]);
    };
    stripe('Stripe, wrong secret', { secret: 'whsec_not_the_right_one' });
    stripe('Stripe, no signature', { signature: null });
    stripe('Stripe, signed an hour ago', { timestamp: Math.floor(clock.now().getTime() / 1000) - 3600 });
    stripe('Stripe, body changed after signing', {
      signature: fakes.stripe.sign(payload),
      body: payload.replace('"amount": 1', '"amount": 100000'),
    });
    const moyasarWebhook: MoyasarWebhookEvent = {
      id: randomUUID(),
      type: 'payment_paid',
      created_at: clock.now().toISOString(),
      secret_token: fakes.moyasar.webhookSecret,
      account_name: 'Fake',
      live: false,
      data: { id: randomUUID(), status: 'paid', amount: 1, currency: 'SAR' } as MoyasarWebhookEvent['data'],
    };
    for (const [name, token] of [
      ['Moyasar, wrong secret_token', 'not-the-secret'],
      ['Moyasar, no secret_token', null],
    ] as const) {
      const ip = nextIp();
      attempts.push([name, () => deliverMoyasar(moyasarWebhook, token, ip), ip]);
    }

    for (const [name, attempt] of attempts) {
      const response = await attempt();
      expect(response.statusCode, `${name}: ${response.body}`).toBe(400);
      expect(JSON.parse(response.body).code, name).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    const stored = await queryRows(
      t.app.platform.db,
      sql`select event_id from payment_events where event_id in (${forged.id}, ${moyasarWebhook.id})`,
    );
    expect(stored).toEqual([]);

    const events = expectStatus(
      await send('GET', '/admin/security/events?type=webhook_signature&limit=100', admin),
      200,
    ).data as { ip: string; rule: string; location: string; severity: string }[];
    for (const [name, , ip] of attempts) {
      const event = events.find((candidate) => candidate.ip === ip);
      expect(event, name).toMatchObject({ rule: 'webhook.signature_invalid', severity: 'critical' });
      expect(event?.location, name).toMatch(/webhooks\/(stripe|moyasar)/);
    }
  });

  it('refuses Twilio status callbacks without a valid X-Twilio-Signature, and records them', async () => {
    const params = {
      AccountSid: TWILIO.TWILIO_ACCOUNT_SID,
      MessageSid: `SM${randomUUID().replaceAll('-', '')}`,
      MessageStatus: 'delivered',
      To: '+447700900001',
    };
    const post = (signature: string | null, ip: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/v1/webhooks/twilio/status',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(signature === null ? {} : { 'x-twilio-signature': signature }),
        },
        payload: new URLSearchParams(params).toString(),
        remoteAddress: ip,
      });
    const wrongIp = nextIp();
    const noneIp = nextIp();
    const otherToken = twilio.getExpectedTwilioSignature('someone-elses-auth-token-0123', TWILIO_CALLBACK, params);
    for (const [signature, ip] of [
      [otherToken, wrongIp],
      [null, noneIp],
    ] as const) {
      const response = await post(signature, ip);
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json().code).toBe('WEBHOOK_SIGNATURE_INVALID');
    }
    // The control: Twilio's own signature over our public URL is accepted.
    const signed = await post(
      twilio.getExpectedTwilioSignature(TWILIO.TWILIO_AUTH_TOKEN, TWILIO_CALLBACK, params),
      nextIp(),
    );
    expect(signed.statusCode, signed.body).toBe(200);

    const events = expectStatus(
      await send('GET', '/admin/security/events?type=webhook_signature&limit=100', admin),
      200,
    ).data as { ip: string; location: string }[];
    for (const ip of [wrongIp, noneIp]) {
      expect(events.find((event) => event.ip === ip)?.location).toMatch(/twilio/);
    }
  });
});

describe('a gateway that misbehaves while a booking is paid', () => {
  const hostile: [string, Behaviour][] = [
    [
      'an HTML error page with 200',
      { kind: 'status', status: 200, body: '<html>Service Unavailable</html>', type: 'text/html' },
    ],
    ['JSON that is not a payment', { kind: 'status', status: 200, body: '{"ok":true}', type: 'application/json' }],
    ['a 502', { kind: 'status', status: 502, body: 'Bad Gateway', type: 'text/plain' }],
    [
      'a 500 in its own format',
      { kind: 'status', status: 500, body: '{"type":"api_error"}', type: 'application/json' },
    ],
  ];

  // Tuesday's hours, lunch (12:00) left out.
  const hours = [9, 10, 11, 13];
  it.each(hostile.map(([name, behaviour], index) => [name, behaviour, hours[index] as number] as const))(
    '%s: the booking is refused with 503, left unpaid and its slot free',
    async (_name, behaviour, hour) => {
      const startsAt = slot(hour);
      gateway.set(behaviour);
      try {
        const response = await bookSar(startsAt, 'token_mada_hostile');
        expect(response.statusCode, response.body).toBe(503);
        expect(response.json().code).toBe('PAYMENTS_UNAVAILABLE');
        expect(response.body).not.toMatch(/html|api_error|Bad Gateway/i);
      } finally {
        gateway.set({ kind: 'forward' });
      }
      await drainOutbox(t);
      await expectUnpaidAndFree(startsAt);
    },
  );

  it('keeps a booking waiting on a gateway that does not answer, and serves everyone else meanwhile', async () => {
    const startsAt = slot(15);
    gateway.set({ kind: 'hold' });
    const held = gateway.nextHeld();
    let settled = false;
    const waiting = bookSar(startsAt, 'token_mada_slow').then((response) => {
      settled = true;
      return response;
    });
    await held;
    // Should the app hold the database (or a lock) over the call, these would wait with it; the
    // stand-in lets go after 5 s in any case, so a failure here fails rather than hangs.
    const safety = setTimeout(() => gateway.release(), 5000);
    try {
      const others = await Promise.all([
        send('GET', '/me', customer),
        send('GET', '/categories'),
        send('POST', '/bookings', customer, { service_id: visitServiceId, starts_at: slot(16) }),
        t.app.inject({ method: 'GET', url: '/api/health/ready' }),
      ]);
      expect(others.map((response) => response.statusCode)).toEqual([200, 200, 201, 200]);
      expect(settled, 'the held booking was still waiting while the others were served').toBe(false);
    } finally {
      clearTimeout(safety);
      gateway.set({ kind: 'forward' });
      gateway.release();
    }
    const response = await waiting;
    expect(response.statusCode, response.body).toBe(503);
    expect(response.json().code).toBe('PAYMENTS_UNAVAILABLE');
    await drainOutbox(t);
    await expectUnpaidAndFree(startsAt);
  });

  it.each([
    ['a smaller amount', { amount: 100 }, 9],
    ['another currency', { currency: 'USD' }, 10],
  ] as const)('an answer "paid" for %s than was asked is not taken as payment', async (_name, patch, hour) => {
    // Thursday 25 March: nothing else is booked that day.
    const startsAt = slot(hour, 25);
    const calls = fakes.moyasar.requests.length;
    gateway.set({ kind: 'forward', patch });
    let response: Awaited<ReturnType<typeof bookSar>>;
    try {
      response = await bookSar(startsAt, 'token_mada_tampered');
    } finally {
      gateway.set({ kind: 'forward' });
    }
    // The request reached the gateway (the payment was made there, for 150.00 SAR).
    expect(fakes.moyasar.requests.length, response.body).toBeGreaterThan(calls);
    await drainOutbox(t);
    const state = await stateAt(startsAt);
    expect(state.bookings.length, response.body).toBe(1);
    expect({
      booking: state.bookings[0]?.status,
      payment: state.payments[0]?.status,
      captured_minor: state.payments[0]?.captured_minor,
      ledger_captures: state.captures,
    }).toEqual({
      booking: expect.stringMatching(/^(cancelled|pending_payment)$/),
      payment: expect.not.stringMatching(/^succeeded$/),
      captured_minor: 0,
      ledger_captures: 0,
    });
  });
});

describe('webhooks delivered again, and webhooks as hints', () => {
  /** A booking paid with 3-D Secure: Moyasar's payment waits (`initiated`) for the customer. */
  async function waitingForThreeDSecure(startsAt: string) {
    const booking = expectStatus(await bookSar(startsAt, 'token_mada_3ds'), 201).data;
    const [row] = await queryRows<{ gateway_payment_id: string }>(
      t.app.platform.db,
      sql`select gateway_payment_id from payments where id = ${booking.payment.id}`,
    );
    return { booking, moyasarId: row?.gateway_payment_id as string };
  }

  const captures = async (paymentId: string) =>
    (
      await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from ledger_entries where kind = 'capture' and payment_id = ${paymentId}`,
      )
    )[0]?.n;
  /** The customer's payment receipts (a sent message keeps no data, so they are counted, not matched). */
  const receipts = async () =>
    (
      await queryRows<{ n: number }>(
        t.app.platform.db,
        sql`select count(*)::int as n from notifications where template = 'payment_receipt' and user_id = ${customer.id}`,
      )
    )[0]?.n ?? 0;

  it('a payment_paid webhook delivered three times is applied once: one capture, one receipt', async () => {
    const { booking, moyasarId } = await waitingForThreeDSecure(slot(10, 26));
    const receiptsBefore = await receipts();
    fakes.moyasar.completePayment(moyasarId, 'paid');
    const webhook = fakes.moyasar.event('payment_paid', moyasarId);
    const answers = [];
    for (let i = 0; i < 2; i++) answers.push(await deliverMoyasar(webhook));
    await drainOutbox(t);
    answers.push(await deliverMoyasar(webhook));
    await drainOutbox(t);
    expect(answers.map((response) => response.statusCode)).toEqual([200, 200, 200]);
    expect(answers.map((response) => response.json().data.duplicate)).toEqual([false, true, true]);
    expect(await captures(booking.payment.id)).toBe(1);
    expect((await receipts()) - receiptsBefore).toBe(1);
    const after = expectStatus(await send('GET', `/bookings/${booking.id}`, customer), 200).data;
    expect(after.payment).toMatchObject({ status: 'succeeded', captured_minor: SAR_PRICE });
  });

  it('a webhook claiming "paid" with the right secret_token does not pay what Moyasar says is unpaid', async () => {
    const { booking, moyasarId } = await waitingForThreeDSecure(slot(11, 26));
    // Whoever knows the shared token (it travels in every webhook body) claims the payment was made.
    const claim = fakes.moyasar.event('payment_paid', moyasarId);
    claim.id = randomUUID();
    claim.data = { ...claim.data, status: 'paid' };
    expect((await deliverMoyasar(claim)).statusCode).toBe(200);
    await drainOutbox(t);
    expect(fakes.moyasar.payment(moyasarId)?.status).toBe('initiated');
    expect(await captures(booking.payment.id)).toBe(0);
    const after = expectStatus(await send('GET', `/bookings/${booking.id}`, customer), 200).data;
    expect(after.status).toBe('pending_payment');
    expect(after.payment.status).not.toBe('succeeded');
  });
});

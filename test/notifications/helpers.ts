import { asc, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { outbox } from '../../src/infra/outbox/outbox.tables.js';
import type { SendInput } from '../../src/modules/notifications/index.js';
import { notifications } from '../../src/modules/notifications/notifications.tables.js';
import type { TestApp } from '../helpers/app.js';
import { createUser, type TestUser } from '../helpers/users.js';

export const N8N_SECRET = 'n8n-test-secret-0123456789abcdef';

/** Queues a message the way another module would: inside its own transaction. */
export async function queue(t: TestApp, input: SendInput): Promise<string> {
  const { db, services } = t.app.platform;
  return db.transaction((tx) => services.notifications.send(tx, input));
}

export async function notificationRow(t: TestApp, id: string) {
  const [row] = await t.app.platform.db.select().from(notifications).where(eq(notifications.id, id));
  if (!row) throw new Error(`notification ${id} not found`);
  return row;
}

export async function notificationsOf(t: TestApp, userId: string) {
  return t.app.platform.db
    .select()
    .from(notifications)
    .where(eq(notifications.userId, userId))
    .orderBy(asc(notifications.id));
}

export async function outboxRow(t: TestApp, id: string) {
  const [row] = await t.app.platform.db.select().from(outbox).where(eq(outbox.id, id));
  if (!row) throw new Error(`outbox row ${id} not found`);
  return row;
}

export async function outboxRowsOfType(t: TestApp, type: string) {
  return t.app.platform.db
    .select()
    .from(outbox)
    .where(eq(outbox.type, type))
    .orderBy(asc(outbox.createdAt), asc(outbox.id));
}

/** Runs the worker until nothing is due (bounded). */
export async function drain(t: TestApp, maxPasses = 10): Promise<number> {
  let total = 0;
  for (let pass = 0; pass < maxPasses; pass++) {
    const claimed = await t.app.platform.dispatcher.runOnce();
    if (claimed === 0) return total;
    total += claimed;
  }
  throw new Error(`outbox still busy after ${maxPasses} passes`);
}

export async function setPhone(app: FastifyInstance, user: TestUser, phone: string) {
  const response = await app.inject({ method: 'PATCH', url: '/api/v1/me', headers: user.headers, payload: { phone } });
  expect(response.statusCode).toBe(200);
}

export async function setConsent(app: FastifyInstance, user: TestUser, purpose: string, granted: boolean) {
  const response = await app.inject({
    method: 'PUT',
    url: `/api/v1/me/consents/${purpose}`,
    headers: user.headers,
    payload: { granted },
  });
  expect(response.statusCode).toBe(200);
}

export async function setPreferences(app: FastifyInstance, user: TestUser, payload: Record<string, unknown>) {
  const response = await app.inject({
    method: 'PUT',
    url: '/api/v1/me/notification-preferences',
    headers: user.headers,
    payload,
  });
  expect(response.statusCode).toBe(200);
  return response.json().data;
}

let phoneCounter = 0;

/** A user who can get WhatsApp messages: a phone and the `whatsapp` opt-in. */
export async function whatsappUser(app: FastifyInstance): Promise<TestUser & { phone: string }> {
  const user = await createUser(app);
  phoneCounter += 1;
  const phone = `+44770090${String(1000 + phoneCounter).slice(-4)}`;
  await setPhone(app, user, phone);
  await setConsent(app, user, 'whatsapp', true);
  return { ...user, phone };
}

export const reminder = (userId: string, overrides: Partial<SendInput> = {}): SendInput => ({
  userId,
  channels: ['whatsapp'],
  purpose: 'reminder',
  template: 'wellness_reminder',
  data: { title: 'Time for your check-in', message: 'Your weekly wellness check-in is ready.' },
  ...overrides,
});

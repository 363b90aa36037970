import { type SQL, sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../src/infra/db/client.js';
import { CONSENT_PURPOSES } from '../../src/modules/consent/index.js';
import type { Operation } from './openapi.js';

/** Real values of one kind, read from the seeded (and by now fuzzed) database. */
export type PoolName =
  | 'users'
  | 'providers'
  | 'services'
  | 'ownServices'
  | 'categories'
  | 'bookings'
  | 'reviews'
  | 'contentIds'
  | 'contentSlugs'
  | 'flagKeys'
  | 'reminders'
  | 'notifications'
  | 'dataExports'
  | 'sessions'
  | 'payments'
  | 'devices'
  | 'chatMessages'
  | 'securityBlocks'
  | 'media'
  | 'mediaKeys'
  | 'applications'
  | 'consentPurposes';

export type Pools = Record<PoolName, string[]>;

/**
 * Which pool each path parameter draws from, by the path it appears in. A path parameter
 * missing here fails the suite by name, so a new route cannot slip by with random ids only.
 */
export const PATH_PARAM_POOLS: Record<string, Record<string, PoolName>> = {
  '/api/v1/auth/sessions/{id}': { id: 'sessions' },
  '/api/v1/admin/users/{id}': { id: 'users' },
  '/api/v1/admin/users/{id}/erase': { id: 'users' },
  '/api/v1/admin/flags/{key}': { key: 'flagKeys' },
  '/api/v1/me/consents/{purpose}': { purpose: 'consentPurposes' },
  '/api/v1/content/{slug}': { slug: 'contentSlugs' },
  '/api/v1/admin/content/{id}': { id: 'contentIds' },
  '/api/v1/admin/content/{id}/versions': { id: 'contentIds' },
  '/api/v1/providers/{id}': { id: 'providers' },
  '/api/v1/providers/{id}/slots': { id: 'providers' },
  '/api/v1/providers/{id}/reviews': { id: 'providers' },
  '/api/v1/services/{id}': { id: 'services' },
  '/api/v1/provider/services/{id}': { id: 'ownServices' },
  '/api/v1/admin/categories/{id}': { id: 'categories' },
  '/api/v1/admin/providers/{id}': { id: 'providers' },
  '/api/v1/bookings/{id}': { id: 'bookings' },
  '/api/v1/bookings/{id}/confirm': { id: 'bookings' },
  '/api/v1/bookings/{id}/complete': { id: 'bookings' },
  '/api/v1/bookings/{id}/no-show': { id: 'bookings' },
  '/api/v1/bookings/{id}/cancel': { id: 'bookings' },
  '/api/v1/bookings/{id}/reschedule': { id: 'bookings' },
  '/api/v1/waitlist/{id}': { id: 'bookings' },
  '/api/v1/waitlist/{id}/accept': { id: 'bookings' },
  '/api/v1/bookings/{id}/review': { id: 'bookings' },
  '/api/v1/admin/reviews/{id}': { id: 'reviews' },
  '/api/v1/provider/reviews/{id}/reply': { id: 'reviews' },
  '/api/v1/admin/notifications/{id}/retry': { id: 'notifications' },
  '/api/v1/me/data-export/{id}': { id: 'dataExports' },
  '/api/v1/me/reminders/{id}': { id: 'reminders' },
  '/api/v1/admin/bookings/{id}/cancel': { id: 'bookings' },
  '/api/v1/payments/{id}': { id: 'payments' },
  '/api/v1/payments/{id}/simulate': { id: 'payments' },
  '/api/v1/admin/payments/{id}': { id: 'payments' },
  '/api/v1/admin/payments/{id}/refunds': { id: 'payments' },
  '/api/v1/admin/commission-rules/{id}': { id: 'categories' },
  '/api/v1/bookings/{id}/messages': { id: 'bookings' },
  '/api/v1/bookings/{id}/messages/read': { id: 'bookings' },
  '/api/v1/me/devices/{id}': { id: 'devices' },
  '/api/v1/admin/security/blocks/{id}': { id: 'securityBlocks' },
  '/api/v1/media/{id}': { id: 'media' },
  '/api/v1/media/files/{key}': { key: 'mediaKeys' },
  '/api/v1/admin/provider-applications/{id}/approve': { id: 'applications' },
  '/api/v1/admin/provider-applications/{id}/reject': { id: 'applications' },
};

/** Path parameters of the document that have no pool in the table above. */
export function unmappedPathParams(operations: Operation[]): string[] {
  return operations.flatMap((operation) =>
    operation.pathParams
      .filter((parameter) => PATH_PARAM_POOLS[operation.path]?.[parameter.name] === undefined)
      .map((parameter) => `${operation.key}: {${parameter.name}}`),
  );
}

export function poolOfPathParam(operation: Operation, name: string): PoolName {
  const pool = PATH_PARAM_POOLS[operation.path]?.[name];
  if (!pool) throw new Error(`${operation.key}: path parameter {${name}} has no pool in PATH_PARAM_POOLS`);
  return pool;
}

/**
 * Body and query fields that name an entity, drawn from real ids most of the time so valid
 * requests get past the lookup. Optional by design: an unlisted field is generated from its schema.
 */
const FIELD_POOLS: Record<string, PoolName> = {
  service_id: 'services',
  category_id: 'categories',
  parent_id: 'categories',
  provider_id: 'providers',
  customer_id: 'users',
  actor_id: 'users',
  target_id: 'users',
  booking_id: 'bookings',
  payment_id: 'payments',
  up_to_id: 'chatMessages',
  purpose: 'consentPurposes',
};

export function fieldValues(pools: Pools, field: string): readonly string[] | undefined {
  const pool = FIELD_POOLS[field];
  return pool ? pools[pool] : undefined;
}

/** The accounts whose own rows some pools are about (the demo provider's services, …). */
export interface PoolOwners {
  userId: string;
  providerUserId: string;
  /** Role accounts: never targets of admin user operations. */
  protectedUserIds: string[];
}

const ids = async (db: Db, query: SQL) => (await queryRows<{ value: string }>(db, query)).map((row) => row.value);

/** Reads every pool; ordered so the same database state gives the same pools. */
export async function collectPools(db: Db, owners: PoolOwners): Promise<Pools> {
  const protectedIds = sql.join(
    owners.protectedUserIds.map((id) => sql`${id}::uuid`),
    sql`, `,
  );
  return {
    users: await ids(
      db,
      sql`select id::text as value from users where id not in (${protectedIds}) order by id desc limit 100`,
    ),
    providers: await ids(db, sql`select id::text as value from providers order by id`),
    services: await ids(db, sql`select id::text as value from services order by id desc limit 100`),
    ownServices: await ids(
      db,
      sql`select s.id::text as value from services s join providers p on p.id = s.provider_id
          where p.user_id = ${owners.providerUserId} order by s.id desc limit 100`,
    ),
    categories: await ids(db, sql`select id::text as value from categories order by id`),
    bookings: await ids(db, sql`select id::text as value from bookings order by id desc limit 100`),
    reviews: await ids(db, sql`select id::text as value from reviews order by id desc limit 100`),
    contentIds: await ids(db, sql`select id::text as value from content_items order by id desc limit 100`),
    contentSlugs: await ids(db, sql`select slug as value from content_items order by id desc limit 100`),
    flagKeys: await ids(db, sql`select key as value from feature_flags order by key limit 100`),
    reminders: await ids(
      db,
      sql`select id::text as value from reminders where user_id = ${owners.userId} order by id desc limit 100`,
    ),
    notifications: await ids(db, sql`select id::text as value from notifications order by id desc limit 100`),
    devices: await ids(db, sql`select id::text as value from push_devices order by id desc limit 100`),
    chatMessages: await ids(db, sql`select id::text as value from booking_messages order by id desc limit 100`),
    dataExports: await ids(
      db,
      sql`select id::text as value from data_exports where user_id = ${owners.userId} order by id desc limit 100`,
    ),
    sessions: await ids(
      db,
      sql`select id::text as value from sessions where revoked_at is null order by id desc limit 100`,
    ),
    payments: await ids(db, sql`select id::text as value from payments order by id desc limit 100`),
    securityBlocks: await ids(db, sql`select id::text as value from ip_blocks order by id desc limit 100`),
    media: await ids(db, sql`select id::text as value from media order by id desc limit 100`),
    mediaKeys: await ids(
      db,
      sql`select key as value from (select unnest(keys) as key, id from media) k order by id desc, key limit 100`,
    ),
    applications: await ids(db, sql`select id::text as value from provider_applications order by id desc limit 100`),
    consentPurposes: [...CONSENT_PURPOSES],
  };
}

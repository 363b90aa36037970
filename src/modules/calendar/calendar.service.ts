import { createHash } from 'node:crypto';
import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { Actor, CallContext } from '../../shared/actor.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { BookingsService } from '../bookings/index.js';
import type { IdentityService } from '../identity/index.js';
import { type IcsEvent, type IcsStatus, writeCalendar } from './calendar.ics.js';
import type { CalendarRepository } from './calendar.repository.js';

const DAY_MS = 86_400_000;
/** A feed shows visits starting from 30 days ago to a year ahead. */
export const FEED_DAYS_BACK = 30;
export const FEED_DAYS_AHEAD = 365;
/** 32 random bytes, base64url: what POST /me/calendar-feed hands out. */
export const FEED_TOKEN_PATTERN = '^[A-Za-z0-9_-]{43}$';
const PRODUCT = 'Care Platform';
const PRODID = '-//Care Platform//Booking calendar//EN';
// SEQUENCE is a signed 32-bit INTEGER (§3.3.8).
const MAX_SEQUENCE = 2_147_483_647;

export type FeedKind = 'customer' | 'provider';
type Visit = Awaited<ReturnType<BookingsService['customerVisits']>>[number];

const STATUS: Record<Visit['status'], IcsStatus> = {
  pending_payment: 'TENTATIVE',
  pending: 'TENTATIVE',
  confirmed: 'CONFIRMED',
  completed: 'CONFIRMED',
  no_show: 'CONFIRMED',
  cancelled: 'CANCELLED',
};

const DESCRIPTION: Record<FeedKind, Record<Visit['status'], string>> = {
  customer: {
    pending_payment: 'Waiting for your payment',
    pending: 'Waiting for the provider to confirm',
    confirmed: 'Confirmed',
    completed: 'Completed',
    no_show: 'Marked as missed',
    cancelled: 'Cancelled',
  },
  provider: {
    pending_payment: "Waiting for the customer's payment",
    pending: 'Waiting for you to confirm',
    confirmed: 'Confirmed',
    completed: 'Completed',
    no_show: 'Marked as a no-show',
    cancelled: 'Cancelled',
  },
};

export interface FeedStatus {
  enabled: boolean;
  created_at: string | null;
  rotated_at: string | null;
  /** Whether the account has a provider calendar (provider_url is given with the token). */
  provider_feed: boolean;
}

export interface FeedAddresses {
  customer_url: string;
  provider_url: string | null;
  created_at: string;
  rotated_at: string;
}

/** The stored form of a feed token: only its SHA-256 is kept. */
export const hashFeedToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Bookings as iCalendar feeds: the signed-in person's (as a customer, and as a provider), and the
 * same through a secret address calendar apps subscribe to without signing in. The address's
 * token is shown only when made or rotated (only its hash is stored); rotating replaces it and
 * the old address answers 404 at once; turning the feed off deletes it.
 */
export function createCalendarService(deps: {
  db: Db;
  clock: Clock;
  repository: CalendarRepository;
  bookings: Pick<BookingsService, 'customerVisits' | 'providerVisits'>;
  identity: Pick<IdentityService, 'getAccount'>;
  audit: Pick<AuditService, 'record'>;
  /** A new secret feed token (32 random bytes, base64url). */
  newToken: () => string;
  /** This API as the internet reaches it (PUBLIC_API_URL), and the web app (PUBLIC_APP_URL). */
  urls: { api: string; app: string };
}) {
  const { db, clock, repository } = deps;

  /** The days the feed covers, whole UTC days so the body (and its ETag) holds for the day. */
  const window = () => {
    const today = Math.floor(clock.now().getTime() / DAY_MS) * DAY_MS;
    return { from: new Date(today - FEED_DAYS_BACK * DAY_MS), to: new Date(today + (FEED_DAYS_AHEAD + 1) * DAY_MS) };
  };

  const eventOf = (visit: Visit, kind: FeedKind): IcsEvent => {
    const other = kind === 'customer' ? visit.providerName : (visit.customerName ?? 'a customer');
    return {
      uid: `${visit.id}@care-platform`,
      sequence: Math.min(
        MAX_SEQUENCE,
        Math.max(0, Math.floor((visit.updatedAt.getTime() - visit.createdAt.getTime()) / 1000)),
      ),
      status: STATUS[visit.status],
      start: visit.startsAt,
      end: visit.endsAt,
      timeZone: visit.timeZone,
      // The version's time, not the request's: an unchanged feed is byte for byte the same (ETag).
      stamp: visit.updatedAt,
      created: visit.createdAt,
      summary: `${visit.serviceName} with ${other}`,
      description: DESCRIPTION[kind][visit.status],
      location: visit.location,
      url: `${deps.urls.app}/bookings/${visit.id}`,
    };
  };

  const customerCalendar = async (userId: string) => {
    const span = window();
    const visits = await deps.bookings.customerVisits(userId, span);
    return writeCalendar({
      prodId: PRODID,
      name: `${PRODUCT}: my bookings`,
      window: span,
      events: visits.map((visit) => eventOf(visit, 'customer')),
    });
  };

  /** undefined when the account has no provider profile. */
  const providerCalendar = async (userId: string) => {
    const span = window();
    const feed = await deps.bookings.providerVisits(userId, span);
    if (!feed) return undefined;
    return writeCalendar({
      prodId: PRODID,
      name: `${PRODUCT}: ${feed.providerName} visits`,
      timeZone: feed.timeZone,
      window: span,
      events: feed.visits.map((visit) => eventOf(visit, 'provider')),
    });
  };

  const addresses = (token: string, role: Actor['role'], row: { createdAt: Date; rotatedAt: Date }): FeedAddresses => {
    const base = `${deps.urls.api}/api/v1/calendar`;
    return {
      customer_url: `${base}/customer.ics?token=${token}`,
      provider_url: role === 'provider' ? `${base}/provider.ics?token=${token}` : null,
      created_at: row.createdAt.toISOString(),
      rotated_at: row.rotatedAt.toISOString(),
    };
  };

  return {
    /** GET /me/calendar.ics: the person's bookings as a customer. */
    myCalendar: (actor: Actor) => customerCalendar(actor.id),

    /** GET /provider/calendar.ics: the visits of the provider's profile. */
    async myProviderCalendar(actor: Actor): Promise<string> {
      const calendar = await providerCalendar(actor.id);
      if (calendar === undefined) {
        throw new AppError('NOT_FOUND', 'You have no provider profile yet (POST /provider/profile)');
      }
      return calendar;
    },

    /**
     * A feed by its secret token: 404 for a token never issued, rotated away or turned off, for an
     * account disabled or erased, and for a provider feed of an account that is not a provider.
     * The token is found by its hash through the unique index; a caller cannot steer a hash's
     * bytes, so the index comparison tells nothing about valid tokens.
     */
    async feed(token: string, kind: FeedKind): Promise<string> {
      const gone = () => notFound('Calendar feed');
      const row = await repository.findByTokenHash(db, hashFeedToken(token));
      if (!row) throw gone();
      const account = await deps.identity.getAccount(row.userId);
      if (!account?.isActive) throw gone();
      if (kind === 'customer') return customerCalendar(row.userId);
      const calendar = account.role === 'provider' ? await providerCalendar(row.userId) : undefined;
      if (calendar === undefined) throw gone();
      return calendar;
    },

    async feedStatus(actor: Actor): Promise<FeedStatus> {
      const row = await repository.findByUser(db, actor.id);
      return {
        enabled: row !== undefined,
        created_at: row?.createdAt.toISOString() ?? null,
        rotated_at: row?.rotatedAt.toISOString() ?? null,
        provider_feed: actor.role === 'provider',
      };
    },

    /** Makes the feed's secret address, or replaces it (the old one stops answering); audited. */
    async rotate(actor: Actor, context: CallContext): Promise<FeedAddresses & { created: boolean }> {
      const token = deps.newToken();
      const saved = await inTransaction(db, async (tx) => {
        const row = await repository.upsert(tx, {
          userId: actor.id,
          tokenHash: hashFeedToken(token),
          now: clock.now(),
        });
        await deps.audit.record(tx, auditContextOf({ ...context, id: actor.id }), {
          action: row.created ? 'calendar.feed_created' : 'calendar.feed_rotated',
          targetType: 'user',
          targetId: actor.id,
        });
        return row;
      });
      return { ...addresses(token, actor.role, saved), created: saved.created };
    },

    /** Turns the feed off: its address answers 404. Nothing to turn off is not an error. */
    async disable(actor: Actor, context: CallContext): Promise<void> {
      await inTransaction(db, async (tx) => {
        if ((await repository.delete(tx, actor.id)) === 0) return;
        await deps.audit.record(tx, auditContextOf({ ...context, id: actor.id }), {
          action: 'calendar.feed_disabled',
          targetType: 'user',
          targetId: actor.id,
        });
      });
    },

    async exportFor(tx: Db, userId: string) {
      const row = await repository.findByUser(tx, userId);
      return row
        ? { enabled: true, created_at: row.createdAt.toISOString(), rotated_at: row.rotatedAt.toISOString() }
        : null;
    },

    eraseFor: (tx: Db, userId: string) => repository.delete(tx, userId),
  };
}

export type CalendarService = ReturnType<typeof createCalendarService>;

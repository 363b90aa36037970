import { AppError, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import type { EventBus } from '../../shared/events.js';
import type { CatalogService } from '../catalog/index.js';
import type { Notify } from '../notifications/index.js';
import type { ChatRepository } from './bookings.chat-repository.js';
import type { BookingMessages } from './bookings.messages.js';
import { type Party, partyOf } from './bookings.parties.js';
import type { BookingsRepository } from './bookings.repository.js';
import type { BookingMessageRow, BookingRow } from './bookings.tables.js';

/** A booking's chat closes this long after the visit's end. */
export const CHAT_OPEN_AFTER_VISIT_MS = 30 * 86_400_000;

export interface PublicChatMessage {
  id: string;
  booking_id: string;
  /** Who wrote it: the customer or the provider of the booking. */
  sender: Party;
  /** Whether the caller wrote it. */
  mine: boolean;
  /** null once the sender's account was erased. */
  text: string | null;
  created_at: string;
  /** When the other party read it. */
  read_at: string | null;
}

const toPublic = (row: BookingMessageRow, reader: Party): PublicChatMessage => ({
  id: row.id,
  booking_id: row.bookingId,
  sender: row.senderRole,
  mine: row.senderRole === reader,
  text: row.body,
  created_at: row.createdAt.toISOString(),
  read_at: row.readAt?.toISOString() ?? null,
});

/**
 * The chat of a booking between its customer and its provider (anyone else: 404). Messages are
 * stored, sent live to both parties' apps, and, when the recipient has no app connected and no
 * unread message from this sender yet, announced on their channels (without the text).
 */
export function createBookingChat(deps: {
  db: Db;
  repository: BookingsRepository;
  chat: ChatRepository;
  catalog: Pick<CatalogService, 'providerOfUser' | 'findProvider' | 'bookableService'>;
  messages: Pick<BookingMessages, 'partiesOf'>;
  notify: Notify;
  events: Pick<EventBus, 'publish'>;
  isOnline: (userId: string) => Promise<boolean>;
  /** Throws 429 RATE_LIMITED when the person sends too many chat messages (CHAT_MESSAGES_PER_MINUTE). */
  chatBudget: (userId: string) => Promise<void>;
  /** Whether a person was told of unread chat messages on a booking (claim: true the first time, until reset). */
  announced: {
    claim(bookingId: string, userId: string): Promise<boolean>;
    reset(bookingId: string, userId: string): Promise<void>;
  };
  clock: Clock;
  ids: IdGenerator;
}) {
  const { db, repository, chat, catalog, clock } = deps;

  const openBooking = async (tx: Db, actor: Actor, bookingId: string, options: { forUpdate?: boolean } = {}) => {
    const booking = await repository.find(tx, bookingId, options);
    if (!booking) throw notFound('Booking');
    const party = await partyOf(catalog, tx, actor, booking);
    return { booking, party };
  };

  /** The other party's account, when there is one (an erased customer has none). */
  const otherParty = async (tx: Db, booking: BookingRow, party: Party): Promise<string | undefined> => {
    if (party === 'provider') return booking.customerId ?? undefined;
    return (await catalog.findProvider(booking.providerId, tx))?.userId ?? undefined;
  };

  return {
    async listMessages(
      actor: Actor,
      bookingId: string,
      page: { limit: number; cursor?: string },
    ): Promise<{ messages: PublicChatMessage[]; nextCursor?: string }> {
      const { party } = await openBooking(db, actor, bookingId);
      const rows = await chat.list(db, bookingId, { beforeId: page.cursor, limit: page.limit + 1 });
      const shown = rows.slice(0, page.limit);
      return {
        messages: shown.map((row) => toPublic(row, party)),
        nextCursor: rows.length > page.limit ? shown.at(-1)?.id : undefined,
      };
    },

    async postMessage(actor: Actor, bookingId: string, text: string): Promise<PublicChatMessage> {
      return inTransaction(db, async (tx) => {
        const { booking, party } = await openBooking(tx, actor, bookingId, { forUpdate: true });
        const now = clock.now();
        if (now.getTime() > booking.endsAt.getTime() + CHAT_OPEN_AFTER_VISIT_MS) {
          throw new AppError('CHAT_CLOSED', 'This booking’s chat closed 30 days after the visit');
        }
        // Only messages that would be stored count against the budget.
        await deps.chatBudget(actor.id);
        const recipient = await otherParty(tx, booking, party);
        const row = await chat.insert(tx, {
          id: deps.ids(),
          bookingId,
          senderId: actor.id,
          senderRole: party,
          body: text,
          createdAt: now,
          readAt: null,
        });
        await deps.events.publish('live.message', {
          to: await deps.messages.partiesOf(tx, booking),
          type: 'chat.message',
          data: { booking_id: bookingId, message_id: row.id, sender: party, created_at: row.createdAt.toISOString() },
          // The text goes to open apps only: the stored copy (kept a day for resume) must not
          // outlive an erasure of its sender; a reconnecting app reads it from the chat.
          live: { text: row.body },
        });
        // Announced on their channels once until they read the chat: not one message per message.
        if (recipient && !(await deps.isOnline(recipient)) && (await deps.announced.claim(bookingId, recipient))) {
          const [offer, provider] = await Promise.all([
            catalog.bookableService(booking.serviceId, tx),
            catalog.findProvider(booking.providerId, tx),
          ]);
          await deps.notify.send(tx, {
            userId: recipient,
            purpose: 'booking',
            template: 'chat_message',
            data: {
              service_name: offer?.service.name ?? 'your booking',
              booking_id: bookingId,
              sender: party === 'provider' ? (provider?.displayName ?? 'Your provider') : 'Your customer',
            },
            priority: true,
          });
        }
        return toPublic(row, party);
      });
    },

    /** Marks the other party's messages read (all, or up to `upToId`); both apps hear of it. */
    async markMessagesRead(
      actor: Actor,
      bookingId: string,
      upToId?: string,
    ): Promise<{ read: number; read_at: string }> {
      return inTransaction(db, async (tx) => {
        const { booking, party } = await openBooking(tx, actor, bookingId);
        const now = clock.now();
        const ids = await chat.markRead(tx, bookingId, party, now, upToId);
        await deps.announced.reset(bookingId, actor.id);
        if (ids.length > 0) {
          await deps.events.publish('live.message', {
            to: await deps.messages.partiesOf(tx, booking),
            type: 'chat.read',
            data: { booking_id: bookingId, reader: party, message_ids: ids, read_at: now.toISOString() },
          });
        }
        return { read: ids.length, read_at: now.toISOString() };
      });
    },
  };
}

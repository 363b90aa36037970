import type { Static } from '@sinclair/typebox';
import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import type { Track } from '../analytics/index.js';
import type { AuditService } from '../audit/index.js';
import { type CatalogService, catalogNames } from '../catalog/index.js';
import { type ModeratedReview, type PublicReview, toModeratedReview, toPublicReview } from './bookings.dto.js';
import type { BookingMessages } from './bookings.messages.js';
import { ownProvider } from './bookings.parties.js';
import type { BookingPayments } from './bookings.payment.js';
import type { BookingsRepository } from './bookings.repository.js';
import { createReviewsRepository } from './bookings.reviews-repository.js';
import type { AdminReviewSchema, AdminReviewsQuery, ModerateBody, ReviewBody } from './bookings.schemas.js';

/** A review as the admins' moderation list shows it. */
export type AdminReview = Static<typeof AdminReviewSchema>;

/**
 * Reviews of completed visits: one per booking by its customer, hidden or shown again by an
 * admin, answered once by the provider. The provider's rating (kept by the catalog) counts the
 * visible ones; it changes in the review's transaction, and the catalog's cache is dropped once
 * that has committed. No one reviews their own service: not the provider's own account, nor a
 * second account that paid for the visit with a card the provider's account has paid with.
 */
export function createReviews(deps: {
  db: Db;
  repository: BookingsRepository;
  catalog: Pick<CatalogService, 'providerOfUser' | 'findProvider' | 'applyReview' | 'invalidate'>;
  payments: Pick<BookingPayments, 'bookingPaidWithCardOf'>;
  messages: Pick<BookingMessages, 'reviewPosted'>;
  audit: Pick<AuditService, 'record'>;
  track: Track;
  clock: Clock;
  ids: IdGenerator;
}) {
  const { db, repository, catalog, clock } = deps;
  const moderation = createReviewsRepository();

  /**
   * The provider's own account (bookings made before it was refused at booking), or a visit paid
   * with a card the provider's account has also paid with: a second account of the provider.
   */
  const assertNotOwnService = async (tx: Db, bookingId: string, providerId: string, customerId: string) => {
    const provider = await catalog.findProvider(providerId, tx);
    if (!provider) return;
    if (provider.userId === customerId) throw new AppError('OWN_SERVICE', 'You cannot review your own service');
    if (await deps.payments.bookingPaidWithCardOf(bookingId, provider.userId, tx)) {
      throw new AppError(
        'OWN_SERVICE',
        "This visit was paid with a card the provider's own account pays with: it cannot be reviewed",
      );
    }
  };

  return {
    async postReview(actor: Actor, bookingId: string, input: Static<typeof ReviewBody>): Promise<ModeratedReview> {
      const posted = await inTransaction(db, async (tx) => {
        const booking = await repository.find(tx, bookingId, { forUpdate: true });
        if (!booking || booking.customerId !== actor.id) throw notFound('Booking');
        if (booking.status !== 'completed') {
          throw new AppError('INVALID_STATE', 'Only a completed visit can be reviewed');
        }
        await assertNotOwnService(tx, booking.id, booking.providerId, actor.id);
        const now = clock.now();
        const review = await repository.insertReview(tx, {
          id: deps.ids(),
          bookingId,
          providerId: booking.providerId,
          customerId: actor.id,
          rating: input.rating,
          text: input.text,
          visible: true,
          createdAt: now,
          updatedAt: now,
        });
        if (!review) throw new AppError('CONFLICT', 'This booking already has your review');
        await catalog.applyReview(tx, booking.providerId, { add: input.rating });
        await deps.messages.reviewPosted(tx, booking, input.rating);
        await deps.track(tx, 'review_posted', actor.id, {
          provider_id: booking.providerId,
          booking_id: bookingId,
          rating: input.rating,
        });
        return toModeratedReview(review);
      });
      // Once committed: a search between the rating change and the commit may have cached the old one.
      await catalog.invalidate();
      return posted;
    },

    /** Hiding takes the rating out of the provider's average; showing again puts it back. */
    async moderateReview(actor: Actor, id: string, input: Static<typeof ModerateBody>): Promise<ModeratedReview> {
      if (!input.visible && !input.reason) throw invalidField('body.reason', 'is required to hide a review');
      const moderated = await inTransaction(db, async (tx) => {
        const review = await repository.findReview(tx, id, { forUpdate: true });
        if (!review) throw notFound('Review');
        if (review.visible !== input.visible) {
          await catalog.applyReview(
            tx,
            review.providerId,
            input.visible ? { add: review.rating } : { remove: review.rating },
          );
        }
        const updated = await repository.updateReview(tx, id, {
          visible: input.visible,
          hiddenReason: input.visible ? null : (input.reason ?? null),
          updatedAt: clock.now(),
        });
        await deps.audit.record(
          tx,
          { actorId: actor.id, ip: actor.ip, correlationId: actor.correlationId },
          {
            action: input.visible ? 'admin.review_shown' : 'admin.review_hidden',
            targetType: 'review',
            targetId: id,
            details: { provider_id: review.providerId, reason: input.reason ?? null, was_visible: review.visible },
          },
        );
        return toModeratedReview(updated);
      });
      await catalog.invalidate();
      return moderated;
    },

    async replyToReview(actor: Actor, id: string, text: string): Promise<ModeratedReview> {
      return inTransaction(db, async (tx) => {
        const provider = await ownProvider(catalog, actor, tx);
        const review = await repository.findReview(tx, id, { forUpdate: true });
        if (!review || review.providerId !== provider.id) throw notFound('Review');
        if (review.reply !== null) throw new AppError('CONFLICT', 'You have already replied to this review');
        const now = clock.now();
        return toModeratedReview(
          await repository.updateReview(tx, id, { reply: text, repliedAt: now, updatedAt: now }),
        );
      });
    },

    /**
     * Every review for the admins' moderation, shown and hidden (with why), newest first, with its
     * provider's name; the cursor is the last review's id. No customer: judging the text needs none.
     */
    async adminReviews(
      _actor: Actor,
      query: Static<typeof AdminReviewsQuery>,
    ): Promise<{ items: AdminReview[]; nextCursor: string | null }> {
      const rows = await moderation.adminList(db, {
        visible: query.visible,
        providerId: query.provider_id,
        beforeId: query.cursor,
        limit: query.limit + 1,
      });
      const items = rows.slice(0, query.limit);
      const names = await catalogNames(db, { serviceIds: [], providerIds: items.map((row) => row.providerId) });
      return {
        // Reviews reference their provider by foreign key, so the name is always found.
        items: items.map((row) => ({
          ...toModeratedReview(row),
          provider_name: names.providers.get(row.providerId) ?? '',
        })),
        nextCursor: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null,
      };
    },

    /** A provider's visible reviews, newest first; the cursor is the last review's id. */
    async providerReviews(
      providerId: string,
      query: { cursor?: string; limit: number },
    ): Promise<{ items: PublicReview[]; nextCursor: string | null }> {
      const rows = await repository.visibleReviews(db, providerId, query.cursor, query.limit + 1);
      const items = rows.slice(0, query.limit);
      return {
        items: items.map(toPublicReview),
        nextCursor: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null,
      };
    },
  };
}

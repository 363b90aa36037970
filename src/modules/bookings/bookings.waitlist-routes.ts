import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, idPageQuery, NextCursorMeta, Success } from '../../shared/http-schemas.js';
import { IdempotencyHeaders } from '../../shared/idempotency.js';
import { BookingDetailSchema } from './bookings.schemas.js';
import type { BookingsService } from './bookings.service.js';
import { AcceptOfferBody, JoinWaitlistBody, WAITLIST_OFFER_MINUTES, WaitlistEntrySchema } from './bookings.waitlist.js';

const PRIVATE = { 'cache-control': 'private, no-cache', vary: 'authorization' };

/** The waitlist: join a provider's day, see your places, leave, accept an offered time. */
export const waitlistRoutes: FastifyPluginAsyncTypebox<{ bookings: BookingsService }> = async (app, { bookings }) => {
  const tags = ['bookings'];
  const signedIn = { access: requireAuth() };

  app.post(
    '/waitlist',
    {
      config: signedIn,
      schema: {
        operationId: 'bookings.joinWaitlist',
        tags,
        summary: 'Wait for a time with a provider on one day; you are offered the first time that frees and fits',
        description: `Puts you on the provider's waitlist for \`day\` (the provider's local date, today up to 60 days ahead) for one of the provider's bookable services. When a booking's time that day frees (cancelled, released unpaid, moved), the first person waiting whose service fits that start is offered it: the time is held for them alone for ${WAITLIST_OFFER_MINUTES} minutes (less when the start is near) and they are notified (template \`waitlist_offer\`); POST /waitlist/:id/accept books it. One place per provider and day (409 CONFLICT when you already wait); your own service answers 403 OWN_SERVICE.`,
        body: {
          ...JoinWaitlistBody,
          examples: [
            {
              provider_id: '01936f3e-9a4b-7c2d-8e5f-0a1b2c3d4e50',
              service_id: '01936f3e-9a4b-7c2d-8e5f-0a1b2c3d4e5f',
              day: '2026-12-07',
            },
          ],
        },
        response: {
          ...errorResponses('VALIDATION_ERROR', 'OWN_SERVICE', 'CONFLICT'),
          201: Success(WaitlistEntrySchema),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await bookings.joinWaitlist(actorOf(request), request.body) }),
  );

  app.get(
    '/me/waitlist',
    {
      config: { ...signedIn, etag: false },
      schema: {
        operationId: 'bookings.listMyWaitlist',
        tags,
        summary: 'Your waitlist places, newest first',
        description:
          'Every place you took, newest first, a page at a time (`meta.next_cursor`): waiting, offered (with the time held for you and until when), booked (with its booking), expired or cancelled.',
        querystring: Type.Object(idPageQuery(), { additionalProperties: false }),
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(WaitlistEntrySchema), NextCursorMeta),
        },
      },
    },
    async (request, reply) => {
      reply.headers(PRIVATE);
      const page = await bookings.myWaitlist(actorOf(request), request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.delete(
    '/waitlist/:id',
    {
      config: signedIn,
      schema: {
        operationId: 'bookings.leaveWaitlist',
        tags,
        summary: 'Leave a waitlist (a time held for you goes to the next person waiting)',
        description:
          'Cancels your waiting or offered place. A time offered to you is offered to the next person waiting at once. A booked, expired or cancelled place answers 409 INVALID_STATE; anyone else’s place 404.',
        params: IdParams,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'INVALID_STATE'),
          200: Success(WaitlistEntrySchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await bookings.leaveWaitlist(actorOf(request), request.params.id),
    }),
  );

  app.post(
    '/waitlist/:id/accept',
    {
      config: signedIn,
      schema: {
        operationId: 'bookings.acceptWaitlistOffer',
        tags,
        summary: 'Book the time offered to you from the waitlist (the body may be left out); accepts Idempotency-Key',
        description:
          'Books the offered time (`offer_starts_at`) for the place’s service exactly as POST /bookings would — the same checks, status and payment (a service paid at booking needs `payment_method`/`payment_token` as there) — and marks the place booked in the same transaction, so an offer is booked once: a second accept answers 409 INVALID_STATE (with the same Idempotency-Key, the first answer again). An offer that has expired, a place not offered a time, left or already booked answer 409 INVALID_STATE; anyone else’s place 404.',
        headers: IdempotencyHeaders,
        params: IdParams,
        body: Type.Optional({ ...AcceptOfferBody, examples: [{ note: 'First visit' }] }),
        response: {
          ...errorResponses(
            'VALIDATION_ERROR',
            'NOT_FOUND',
            'OWN_SERVICE',
            'SLOT_UNAVAILABLE',
            'INVALID_STATE',
            'IDEMPOTENCY_KEY_REUSED',
            'PAYMENT_DECLINED',
            'PAYMENTS_UNAVAILABLE',
          ),
          200: Success(BookingDetailSchema),
          201: Success(BookingDetailSchema),
        },
      },
    },
    async (request, reply) => {
      const result = await bookings.acceptOffer(
        actorOf(request),
        request.params.id,
        request.body ?? {},
        request.headers['idempotency-key'],
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(result.statusCode as 201).send({ success: true, data: result.booking });
    },
  );
};

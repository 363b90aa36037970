import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, NextCursorMeta, pageQuery, Success } from '../../shared/http-schemas.js';
import { IdempotencyHeaders } from '../../shared/idempotency.js';
import type { Transition } from './bookings.lifecycle.js';
import {
  AdminBookingsQuery,
  AdminCancelBody,
  AvailabilitySchema,
  BookingDetailSchema,
  BookingSchema,
  CalendarQuery,
  CancelBody,
  ChatMessageSchema,
  ChatMessagesQuery,
  CreateBookingBody,
  DashboardQuery,
  DashboardSchema,
  MarkReadBody,
  MarkReadSchema,
  ModerateBody,
  ModeratedReviewSchema,
  PostChatMessageBody,
  ReplyBody,
  ReviewBody,
  ReviewSchema,
  ScheduleBody,
  SlotsQuery,
  SlotsSchema,
} from './bookings.schemas.js';
import type { BookingsService } from './bookings.service.js';

const PRIVATE = { 'cache-control': 'private, no-cache', vary: 'authorization' };

export const bookingsRoutes: FastifyPluginAsyncTypebox<{ bookings: BookingsService }> = async (app, { bookings }) => {
  const tags = ['bookings'];
  const provider = { access: requirePermission('availability:manage_own') };
  const providerBookings = { access: requirePermission('bookings:manage_own') };

  app.get(
    '/provider/availability',
    {
      config: { ...provider, etag: false },
      schema: {
        operationId: 'bookings.getAvailability',
        tags,
        summary: 'Your weekly hours, breaks and date exceptions',
        response: { ...errorResponses('NOT_FOUND'), 200: Success(AvailabilitySchema) },
      },
    },
    async (request) => ({ success: true, data: await bookings.getAvailability(actorOf(request)) }),
  );

  app.put(
    '/provider/availability',
    {
      config: provider,
      schema: {
        operationId: 'bookings.putAvailability',
        tags,
        summary: 'Replace your schedule (HH:MM local times in time_zone; weekly intervals of a day may not overlap)',
        body: ScheduleBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(AvailabilitySchema) },
      },
    },
    async (request) => ({ success: true, data: await bookings.putAvailability(actorOf(request), request.body) }),
  );

  app.get(
    '/providers/:id/slots',
    {
      config: { etag: false },
      schema: {
        operationId: 'bookings.listSlots',
        tags,
        summary:
          'Free start times of a service: inside the schedule, clear of bookings (visit + buffer), 2 h notice, 60-day horizon, 15-minute grid',
        params: IdParams,
        querystring: SlotsQuery,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(SlotsSchema) },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return {
        success: true,
        data: await bookings.slots(request.actor?.id ?? null, request.params.id, request.query),
      };
    },
  );

  app.post(
    '/bookings',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'bookings.createBooking',
        tags,
        summary: 'Book a free slot (pending, or confirmed when the provider auto-confirms); accepts Idempotency-Key',
        description:
          'A service paid at booking (`payment: required`) makes the booking `pending_payment`, holding the slot until `payment_due_at`; `payment_action` says how to pay (Stripe.js client secret, a 3-D Secure page, or the simulated gateway). When the payment succeeds the booking becomes pending or confirmed; when it fails for good or the hold runs out, it is cancelled. A declined card answers 402 and releases the slot; a replay with the same Idempotency-Key answers the same. A provider cannot book their own service (403 OWN_SERVICE).',
        headers: IdempotencyHeaders,
        body: CreateBookingBody,
        response: {
          ...errorResponses(
            'VALIDATION_ERROR',
            'NOT_FOUND',
            'OWN_SERVICE',
            'SLOT_UNAVAILABLE',
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
      const result = await bookings.create(actorOf(request), request.body, request.headers['idempotency-key']);
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(result.statusCode as 201).send({ success: true, data: result.booking });
    },
  );

  const transitions: [string, Transition, string][] = [
    ['confirm', 'confirm', 'Confirm a pending booking (its provider)'],
    ['complete', 'complete', 'Mark a confirmed visit completed once it has started (its provider)'],
    ['no-show', 'no_show', 'Mark a confirmed visit as a no-show once it has started (its provider)'],
  ];
  for (const [path, action, summary] of transitions) {
    app.post(
      `/bookings/:id/${path}`,
      {
        config: providerBookings,
        schema: {
          operationId: `bookings.${action === 'no_show' ? 'markNoShow' : `${action}Booking`}`,
          tags,
          summary,
          params: IdParams,
          response: { ...errorResponses('NOT_FOUND', 'INVALID_STATE'), 200: Success(BookingSchema) },
        },
      },
      async (request) => ({
        success: true,
        data: await bookings.transition(actorOf(request), request.params.id, action),
      }),
    );
  }

  app.post(
    '/bookings/:id/cancel',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'bookings.cancelBooking',
        tags,
        summary:
          'Cancel: the customer until 24 h before the start (a paid booking: until the start, refunded by its policy), the provider at any time with a reason (refunded in full)',
        params: IdParams,
        body: CancelBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'INVALID_STATE'),
          200: Success(BookingSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await bookings.transition(actorOf(request), request.params.id, 'cancel', request.body.reason),
    }),
  );

  app.get(
    '/bookings/:id/messages',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'bookings.listChatMessages',
        tags,
        summary: 'The chat of a booking, newest first (its customer and provider only; anyone else: 404)',
        params: IdParams,
        querystring: ChatMessagesQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'),
          200: Success(Type.Array(ChatMessageSchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await bookings.listMessages(actorOf(request), request.params.id, request.query);
      return { success: true, data: page.messages, meta: { next_cursor: page.nextCursor ?? null } };
    },
  );

  app.post(
    '/bookings/:id/messages',
    {
      config: { access: requireAuth(), inspection: { freeText: ['body.text'] } },
      schema: {
        operationId: 'bookings.postChatMessage',
        tags,
        summary: 'Send a message to the other party of a booking',
        description:
          'Delivered live to both parties (`chat.message` on /api/v1/live); when the recipient has no app open, their first unread message is announced on their channels (push, SMS, email: without the text). Up to 2,000 characters, 20 messages a minute; the chat closes 30 days after the visit (409 CHAT_CLOSED).',
        params: IdParams,
        body: PostChatMessageBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CHAT_CLOSED', 'RATE_LIMITED'),
          201: Success(ChatMessageSchema),
        },
      },
    },
    async (request, reply) => {
      const message = await bookings.postMessage(actorOf(request), request.params.id, request.body.text);
      return reply.code(201).send({ success: true, data: message });
    },
  );

  app.post(
    '/bookings/:id/messages/read',
    {
      config: { access: requireAuth() },
      // Every field is optional, so no body at all means "all of them".
      preValidation: (request, _reply, done) => {
        (request as { body: unknown }).body ??= {};
        done();
      },
      schema: {
        operationId: 'bookings.markChatRead',
        tags,
        summary:
          'Mark the other party’s messages read (read receipts: both apps get `chat.read`); the body may be left out',
        params: IdParams,
        body: MarkReadBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(MarkReadSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await bookings.markMessagesRead(actorOf(request), request.params.id, request.body?.up_to_id),
    }),
  );

  app.get(
    '/me/bookings',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'bookings.listMyBookings',
        tags,
        summary: 'Your bookings, latest start first',
        querystring: Type.Object(pageQuery(), { additionalProperties: false }),
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(BookingSchema), NextCursorMeta),
        },
      },
    },
    async (request, reply) => {
      reply.headers(PRIVATE);
      const page = await bookings.listMine(actorOf(request), request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.get(
    '/bookings/:id',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'bookings.getBooking',
        tags,
        summary: 'One booking with its payment (its customer or its provider)',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(BookingDetailSchema) },
      },
    },
    async (request, reply) => {
      reply.headers(PRIVATE);
      return { success: true, data: await bookings.get(actorOf(request), request.params.id) };
    },
  );

  app.get(
    '/provider/bookings',
    {
      config: { ...providerBookings, etag: false },
      schema: {
        operationId: 'bookings.providerCalendar',
        tags,
        summary: 'Your calendar: bookings starting in [from, to), earliest first',
        querystring: CalendarQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'),
          200: Success(Type.Array(BookingSchema), NextCursorMeta),
        },
      },
    },
    async (request, reply) => {
      reply.headers(PRIVATE);
      const page = await bookings.providerCalendar(actorOf(request), request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.get(
    '/admin/bookings',
    {
      config: { access: requirePermission('bookings:admin'), etag: false },
      schema: {
        operationId: 'bookings.adminListBookings',
        tags,
        summary: 'All bookings, latest start first, by status, provider or customer',
        querystring: AdminBookingsQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(BookingSchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await bookings.adminList(actorOf(request), request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.post(
    '/admin/bookings/:id/cancel',
    {
      config: { access: requirePermission('bookings:admin') },
      schema: {
        operationId: 'bookings.adminCancelBooking',
        tags,
        summary:
          'Cancel an active booking at any time, e.g. when the provider did not come (paid: refunded in full; audited)',
        params: IdParams,
        body: AdminCancelBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'INVALID_STATE'),
          200: Success(BookingSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await bookings.adminCancel(actorOf(request), request.params.id, request.body),
    }),
  );

  app.post(
    '/bookings/:id/review',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'bookings.postReview',
        tags,
        summary: 'Review a completed visit (its customer, once)',
        description:
          "No one reviews their own service (403 OWN_SERVICE): not the provider's own account, nor another account whose payment for the visit used a card the provider's account has paid with here (the same card fingerprint at the same gateway).",
        params: IdParams,
        body: ReviewBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'OWN_SERVICE', 'INVALID_STATE', 'CONFLICT'),
          201: Success(ModeratedReviewSchema),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send({
        success: true,
        data: await bookings.postReview(actorOf(request), request.params.id, request.body),
      }),
  );

  app.patch(
    '/admin/reviews/:id',
    {
      config: { access: requirePermission('bookings:admin') },
      schema: {
        operationId: 'bookings.moderateReview',
        tags,
        summary: 'Hide a review with a reason, or show it again (audited; the provider rating follows)',
        params: IdParams,
        body: ModerateBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(ModeratedReviewSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await bookings.moderateReview(actorOf(request), request.params.id, request.body),
    }),
  );

  app.post(
    '/provider/reviews/:id/reply',
    {
      config: providerBookings,
      schema: {
        operationId: 'bookings.replyToReview',
        tags,
        summary: 'Reply once to a review of you',
        params: IdParams,
        body: ReplyBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CONFLICT'),
          200: Success(ModeratedReviewSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await bookings.replyToReview(actorOf(request), request.params.id, request.body.text),
    }),
  );

  app.get(
    '/providers/:id/reviews',
    {
      schema: {
        operationId: 'bookings.listProviderReviews',
        tags,
        summary: "A provider's visible reviews, newest first",
        params: IdParams,
        querystring: Type.Object(
          {
            limit: pageQuery().limit,
            cursor: Type.Optional(Type.String({ format: 'uuid', description: 'id of the last review seen' })),
          },
          { additionalProperties: false },
        ),
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(ReviewSchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await bookings.providerReviews(request.params.id, request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.get(
    '/provider/dashboard',
    {
      config: { ...providerBookings, etag: false },
      schema: {
        operationId: 'bookings.providerDashboard',
        tags,
        summary: 'Bookings by status, completion and cancellation rates, upcoming visits, rating (cached 5 minutes)',
        querystring: DashboardQuery,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(DashboardSchema) },
      },
    },
    async (request, reply) => {
      reply.headers(PRIVATE);
      return { success: true, data: await bookings.dashboard(actorOf(request), request.query) };
    },
  );
};

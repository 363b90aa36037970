import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, NextCursorMeta, pageQuery, Success } from '../../shared/http-schemas.js';
import { IdempotencyHeaders } from '../../shared/idempotency.js';
import type { Transition } from './bookings.lifecycle.js';
import { RescheduleBody } from './bookings.reschedule.js';
import {
  AdminBookingsQuery,
  AdminCancelBody,
  AdminReviewSchema,
  AdminReviewsQuery,
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
import { MAX_SERIES_WEEKS, SeriesBody } from './bookings.series.js';
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
        description:
          "Your time zone, weekly opening intervals per weekday, breaks and date exceptions (closed days or special hours). Before you save a schedule it is empty, in your profile's time zone, and `updated_at` is null.",
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
        description:
          'Replaces the whole schedule: time zone, weekly intervals, breaks and date exceptions. Bookings already made stay; new slots follow the new schedule at once.',
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
        description:
          "The start times (UTC) at which `service_id` of this provider can be booked between `from` and `to`, given the provider's schedule and time zone, the bookings already made and the service's duration and buffer. Send one of them as `starts_at` to POST /bookings.",
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
        body: {
          ...CreateBookingBody,
          examples: [
            {
              service_id: '01936f3e-9a4b-7c2d-8e5f-0a1b2c3d4e5f',
              starts_at: '2026-12-07T10:00:00Z',
              note: 'First visit',
            },
          ],
        },
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

  app.post(
    '/bookings/series',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'bookings.createSeries',
        tags,
        summary: `Book the same weekly time for 2 to ${MAX_SERIES_WEEKS} weeks, all or nothing; accepts Idempotency-Key`,
        description:
          "Books `weeks` visits of the service, the first at `starts_at` and the others at the same local time (the provider's time zone) each following week, in one transaction, and tells each party once (`booking_series_created`), not once a visit. Every visit must pass the checks of POST /bookings (notice, 60-day horizon, 15-minute grid, open hours, free time); if any does not, nothing is booked and 409 SLOT_UNAVAILABLE has one `details` entry per failing week with its `reason`. Each visit is then a booking of its own (confirmed or cancelled one by one). Services paid at booking cannot be booked as a series (400 naming `body.service_id`). A replay with the same Idempotency-Key answers the same bookings (as they are now, `Idempotent-Replayed: true`) and books nothing.",
        headers: IdempotencyHeaders,
        body: {
          ...SeriesBody,
          examples: [
            { service_id: '01936f3e-9a4b-7c2d-8e5f-0a1b2c3d4e5f', starts_at: '2026-12-07T10:00:00Z', weeks: 6 },
          ],
        },
        response: {
          ...errorResponses(
            'VALIDATION_ERROR',
            'NOT_FOUND',
            'OWN_SERVICE',
            'SLOT_UNAVAILABLE',
            'IDEMPOTENCY_KEY_REUSED',
          ),
          201: Success(Type.Array(BookingSchema)),
        },
      },
    },
    async (request, reply) => {
      const result = await bookings.bookSeries(actorOf(request), request.body, request.headers['idempotency-key']);
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(201).send({ success: true, data: result.bookings });
    },
  );

  app.post(
    '/bookings/:id/reschedule',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'bookings.rescheduleBooking',
        tags,
        summary:
          'Move a pending or confirmed booking to another free time (its customer until the free-cancellation window, its provider until the start); accepts Idempotency-Key',
        description:
          "Takes the new time and frees the old one in one step, or changes nothing. The new time passes the checks of POST /bookings (409 SLOT_UNAVAILABLE with its `reason`); the visit keeps its length, price and payment (no new charge). The customer may reschedule until the service's `free_cancel_hours` before the start, the provider until the start; later, or a booking that is not pending or confirmed, answers 409 INVALID_STATE. A confirmed booking the customer moves waits for the provider's confirmation again (the provider is asked), unless the provider confirms automatically; a booking confirmed at its new time is confirmed anew to both parties. The reminder follows the new time. Anyone but its customer and its provider gets 404.",
        headers: IdempotencyHeaders,
        params: IdParams,
        body: { ...RescheduleBody, examples: [{ starts_at: '2026-12-08T14:00:00Z' }] },
        response: {
          ...errorResponses(
            'VALIDATION_ERROR',
            'NOT_FOUND',
            'SLOT_UNAVAILABLE',
            'INVALID_STATE',
            'IDEMPOTENCY_KEY_REUSED',
          ),
          200: Success(BookingDetailSchema),
        },
      },
    },
    async (request, reply) => {
      const result = await bookings.reschedule(
        actorOf(request),
        request.params.id,
        request.body,
        request.headers['idempotency-key'],
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return { success: true, data: result.booking };
    },
  );

  const transitions: [string, Transition, string, string][] = [
    [
      'confirm',
      'confirm',
      'Confirm a pending booking (its provider)',
      'The booking becomes `confirmed`. Any other status answers 409 INVALID_STATE.',
    ],
    [
      'complete',
      'complete',
      'Mark a confirmed visit completed once it has started (its provider)',
      'The booking becomes `completed`, and its customer may then review it. Before the start, or from any status but `confirmed`, answers 409 INVALID_STATE.',
    ],
    [
      'no-show',
      'no_show',
      'Mark a confirmed visit as a no-show once it has started (its provider)',
      'The booking becomes `no_show`. Before the start, or from any status but `confirmed`, answers 409 INVALID_STATE.',
    ],
  ];
  for (const [path, action, summary, description] of transitions) {
    app.post(
      `/bookings/:id/${path}`,
      {
        config: providerBookings,
        schema: {
          operationId: `bookings.${action === 'no_show' ? 'markNoShow' : `${action}Booking`}`,
          tags,
          summary,
          description: `${description} Another provider's booking answers 404.`,
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
        description:
          "Cancels a pending or confirmed booking and frees its slot; the other party is told. A paid booking is refunded by the service's cancellation terms (in full when the provider cancels). Too late or already ended answers 409 INVALID_STATE.",
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
        description:
          "Messages of the booking's chat with sender, `mine`, text and read time, newest first, a page at a time (`meta.next_cursor`).",
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
        description:
          'Marks every message the other party sent so far as read; both apps get `chat.read` live. Answers how many were marked and when.',
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
        description: 'The bookings you made as a customer, latest start first, a page at a time (`meta.next_cursor`).',
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
        description:
          'The booking with its status, times, price and its payment (amount, status, refunds). Anyone but its customer and its provider gets 404.',
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
        description:
          'Your bookings starting in the window, earliest first, a page at a time: what to show in a calendar.',
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
        description: 'Every booking, filtered by status, provider or customer, latest start first, a page at a time.',
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
        description:
          'Cancels any pending or confirmed booking with a reason, whatever the time (audited); a paid booking is refunded in full.',
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
        body: { ...ReviewBody, examples: [{ rating: 5, text: 'Calm, punctual and kind. I felt listened to.' }] },
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

  app.get(
    '/admin/reviews',
    {
      config: { access: requirePermission('bookings:admin'), etag: false },
      schema: {
        operationId: 'bookings.adminListReviews',
        description:
          "Reviews to moderate, shown and hidden (with the reason it was hidden), newest first, each with its provider's name, a page at a time (`meta.next_cursor`). Filter by `visible` and `provider_id`. No customer details.",
        tags,
        summary: 'All reviews for moderation, newest first, by shown/hidden and provider',
        querystring: AdminReviewsQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(AdminReviewSchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await bookings.adminReviews(actorOf(request), request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.patch(
    '/admin/reviews/:id',
    {
      config: { access: requirePermission('bookings:admin') },
      schema: {
        operationId: 'bookings.moderateReview',
        description:
          "Hides a review from the public with a reason, or shows it again (audited); the provider's rating counts visible reviews only.",
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
        description: 'Your public answer under a review of one of your visits, once (a second reply answers 409).',
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
        description:
          "Visible reviews of a provider (rating, text, the provider's reply), newest first, a page at a time (`meta.next_cursor`).",
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
        description:
          'For the window: bookings by status, completion and cancellation rates, the next visits and your rating. Cached 5 minutes.',
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

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf, contextOf } from '../../shared/actor.js';
import { errorResponses, Nullable, Success } from '../../shared/http-schemas.js';
import { type CalendarService, FEED_DAYS_AHEAD, FEED_DAYS_BACK, FEED_TOKEN_PATTERN } from './calendar.service.js';

const tags = ['calendar'];

// Feeds are personal (a signed-in person's, or a secret address's): never kept by a shared
// cache; a calendar app may keep its copy and ask again with If-None-Match (the ETag).
const FEED_HEADERS = { 'cache-control': 'private, no-cache', vary: 'authorization' };

const IcsResponse = {
  description: `An iCalendar (RFC 5545) document: visits starting from ${FEED_DAYS_BACK} days ago to ${FEED_DAYS_AHEAD} days ahead, cancelled ones as STATUS:CANCELLED, times in the provider's time zone (a VTIMEZONE each)`,
  content: { 'text/calendar': { schema: Type.String({ maxLength: 10_000_000 }) } },
};

const FeedStatusSchema = Type.Object({
  enabled: Type.Boolean({ description: 'whether a secret feed address exists' }),
  created_at: Nullable(Type.String({ format: 'date-time' })),
  rotated_at: Nullable(Type.String({ format: 'date-time', description: 'when the current address was made' })),
  provider_feed: Type.Boolean({ description: 'whether the address has a provider calendar too' }),
});

const FeedAddressesSchema = Type.Object({
  customer_url: Type.String({ maxLength: 2000, description: 'your bookings as a customer; subscribe to it' }),
  provider_url: Nullable(Type.String({ maxLength: 2000, description: 'your visits as a provider (providers only)' })),
  created_at: Type.String({ format: 'date-time' }),
  rotated_at: Type.String({ format: 'date-time' }),
});

const FeedQuery = Type.Object(
  {
    token: Type.String({
      pattern: FEED_TOKEN_PATTERN,
      description: 'the secret of the address POST /me/calendar-feed answered',
    }),
  },
  { additionalProperties: false },
);

const sendIcs = (reply: FastifyReply, body: string, filename: string) =>
  reply
    .headers(FEED_HEADERS)
    .header('content-type', 'text/calendar; charset=utf-8')
    .header('content-disposition', `inline; filename="${filename}"`)
    .send(body);

export const calendarRoutes: FastifyPluginAsyncTypebox<{ calendar: CalendarService }> = async (app, { calendar }) => {
  app.get(
    '/me/calendar.ics',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'calendar.myCalendar',
        tags,
        summary: 'Your bookings as an iCalendar file',
        description:
          'Your bookings as a customer, for a calendar app to import. To subscribe without signing in, make a secret address with POST /me/calendar-feed.',
        response: { ...errorResponses(), 200: IcsResponse },
      },
    },
    async (request, reply) => sendIcs(reply, await calendar.myCalendar(actorOf(request)), 'bookings.ics'),
  );

  app.get(
    '/provider/calendar.ics',
    {
      config: { access: requirePermission('bookings:manage_own') },
      schema: {
        operationId: 'calendar.providerCalendar',
        tags,
        summary: 'Your visits as a provider, as an iCalendar file',
        description:
          "Your provider profile's visits, each named by its service and the customer's display name (never their email or phone). 404 NOT_FOUND before you have a profile.",
        response: { ...errorResponses('NOT_FOUND'), 200: IcsResponse },
      },
    },
    async (request, reply) => sendIcs(reply, await calendar.myProviderCalendar(actorOf(request)), 'visits.ics'),
  );

  app.get(
    '/me/calendar-feed',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'calendar.getFeed',
        tags,
        summary: 'Whether your secret calendar address exists, and since when',
        description:
          'The address itself is shown only when it is made or rotated (POST /me/calendar-feed): only a hash of its secret is kept.',
        response: { ...errorResponses(), 200: Success(FeedStatusSchema) },
      },
    },
    async (request, reply) => {
      reply.headers(FEED_HEADERS);
      return { success: true, data: await calendar.feedStatus(actorOf(request)) };
    },
  );

  app.post(
    '/me/calendar-feed',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'calendar.rotateFeed',
        tags,
        summary: 'Make or rotate your secret calendar address',
        description:
          'Answers the addresses calendar apps subscribe to (no sign-in: the secret in the address is the key; use `webcal://` in place of `https://` to open a calendar app). 201 when made, 200 when it replaced an earlier address, which stops answering at once. Keep it private: anyone with it can read your bookings. Audited.',
        response: {
          ...errorResponses(),
          200: Success(FeedAddressesSchema),
          201: Success(FeedAddressesSchema),
        },
      },
    },
    async (request, reply) => {
      const { created, ...addresses } = await calendar.rotate(actorOf(request), contextOf(request));
      return reply
        .code(created ? 201 : 200)
        .headers({ 'cache-control': 'no-store' })
        .send({ success: true, data: addresses });
    },
  );

  app.delete(
    '/me/calendar-feed',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'calendar.deleteFeed',
        tags,
        summary: 'Turn your secret calendar address off',
        description:
          'The address answers 404 from now on; subscribed calendar apps stop updating. Answers 204 whether or not there was one. Audited.',
        response: { ...errorResponses(), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await calendar.disable(actorOf(request), contextOf(request));
      return reply.code(204).send(null);
    },
  );

  for (const kind of ['customer', 'provider'] as const) {
    app.get(
      `/calendar/${kind}.ics`,
      {
        schema: {
          operationId: kind === 'customer' ? 'calendar.customerFeed' : 'calendar.providerFeed',
          tags,
          summary:
            kind === 'customer'
              ? "A person's bookings by their secret address (no sign-in)"
              : "A provider's visits by their secret address (no sign-in)",
          description:
            "For calendar apps to subscribe to: the `token` is the secret POST /me/calendar-feed made. It is in the query so that it stays out of the request log (which records the path only). 404 NOT_FOUND for a token never made, rotated away or turned off, and for an account that is disabled or (for the provider feed) not a provider's. Limited per address like any anonymous call.",
          querystring: FeedQuery,
          response: { ...errorResponses('NOT_FOUND'), 200: IcsResponse },
        },
      },
      async (request, reply) =>
        sendIcs(
          reply,
          await calendar.feed(request.query.token, kind),
          kind === 'customer' ? 'bookings.ics' : 'visits.ics',
        ),
    );
  }
};

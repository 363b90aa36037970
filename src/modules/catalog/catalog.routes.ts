import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { requirePermission } from '../../shared/access-rules.js';
import { actorOf } from '../../shared/actor.js';
import { errorResponses, IdParams, NextCursorMeta, Success } from '../../shared/http-schemas.js';
import { ImageSchema } from '../media/index.js';
import {
  AdminProviderSchema,
  AdminProvidersQuery,
  CategorySchema,
  CreateCategoryBody,
  CreateServiceBody,
  OwnProviderSchema,
  ProviderPageSchema,
  PublicServiceSchema,
  ReplaceGalleryBody,
  SearchQuery,
  SearchResultSchema,
  ServiceSchema,
  UpdateCategoryBody,
  UpdateProfileBody,
  UpdateServiceBody,
  VerifyProviderBody,
} from './catalog.schemas.js';
import type { CatalogService } from './catalog.service.js';

/** Sends JSON already written by the route's own response schema: Fastify passes a JSON string through as it is. */
const sendSerialised = (reply: FastifyReply, body: string) => reply.type('application/json; charset=utf-8').send(body);

export const catalogRoutes: FastifyPluginAsyncTypebox<{ catalog: CatalogService }> = async (app, { catalog }) => {
  const tags = ['catalog'];

  app.get(
    '/categories',
    {
      schema: {
        operationId: 'catalog.listCategories',
        description:
          'Every active category once, with `parent_id` (null for a top category), so an app can draw the tree and pass a slug or id to service search.',
        tags,
        summary: 'Active service categories, flat: build the tree from each `parent_id` (null at the top)',
        response: { ...errorResponses(), 200: Success(Type.Array(CategorySchema)) },
      },
    },
    async () => ({ success: true, data: await catalog.listCategories() }),
  );

  app.get(
    '/providers/:id',
    {
      schema: {
        operationId: 'catalog.getProvider',
        description:
          'Display name, bio, city, country, languages, time zone and rating of a verified provider, `avatar` (their profile photo with its thumbnail, card and full variants, or null), `gallery` (their photos in their order) and `services`: their active services, newest first, each with its `image` (thumbnail and card, or null); GET /services/:id has the details of one. A provider not verified (or no provider) answers 404.',
        tags,
        summary: "A verified provider's public page: profile, photos, rating and active services; anyone else's is 404",
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(ProviderPageSchema) },
      },
    },
    async (request) => ({ success: true, data: await catalog.publicProfile(request.params.id) }),
  );

  app.get(
    '/services/:id',
    {
      schema: {
        operationId: 'catalog.getService',
        description:
          "An active service of a verified provider: name, description, category, duration, price, payment and cancellation terms, its `image` (thumbnail, card and full variants, or null), and its provider's display name, city, country and rating. An inactive service, one of a provider not verified, or no service answers 404.",
        tags,
        summary: 'One bookable service with its provider; anything else is 404',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(PublicServiceSchema) },
      },
    },
    async (request) => ({ success: true, data: await catalog.publicService(request.params.id) }),
  );

  app.get(
    '/services/search',
    {
      schema: {
        operationId: 'catalog.searchServices',
        tags,
        summary: 'Search active services of verified providers',
        description:
          "`q` is matched in full text (websearch syntax) and ranked; when that finds nothing, every word of `q` of 3 letters or more matches as a prefix or as a word of a service or category name one typo away (a letter missing, extra or wrong, or two swapped). `category` (slug or id) includes its subcategories; `city` ignores case; `provider_id` keeps one provider's services; `currency` keeps those priced in it. Prices are minor units of their own currency, so `sort=price`, `min_price` and `max_price` compare within one currency: without `currency` they answer 400 naming `query.currency` (and the currencies found) when the matches are priced in more than one. `sort=relevance` is newest first without `q`. Each result has the service's `image` (thumbnail and card variants) or null.",
        querystring: SearchQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(SearchResultSchema), NextCursorMeta),
        },
      },
    },
    async (request, reply) => {
      // Written once by this route's response schema, then cached and sent as it is.
      const answer = await catalog.search(request.actor, request.query, (page) =>
        String(reply.serialize({ success: true, data: page.items, meta: { next_cursor: page.nextCursor } })),
      );
      return sendSerialised(reply.header('etag', answer.etag), answer.body);
    },
  );

  // --- the signed-in provider's own profile and services ---

  const own = { access: requirePermission('catalog:manage_own'), etag: false };
  const providerTags = ['provider'];

  app.get(
    '/provider/profile',
    {
      config: own,
      schema: {
        operationId: 'catalog.getOwnProfile',
        description:
          'Your provider profile, created empty and pending verification the first time you ask. Includes your verification state and reason, and whether your bookings confirm automatically.',
        tags: providerTags,
        summary: 'Your provider profile (created, pending verification, on first use)',
        response: { ...errorResponses(), 200: Success(OwnProviderSchema) },
      },
    },
    async (request) => ({ success: true, data: await catalog.ownProfile(actorOf(request)) }),
  );

  app.patch(
    '/provider/profile',
    {
      config: own,
      schema: {
        operationId: 'catalog.updateOwnProfile',
        description:
          'Changes the fields sent (display name, bio, city, country, languages, time zone, auto_confirm, avatar_media_id). `avatar_media_id` is one of your uploads made with `POST /media?purpose=avatar` (null removes the photo); any other id, someone else’s upload or one made for another purpose answers 400 naming `body.avatar_media_id`. Customers find you once an admin has verified the profile.',
        tags: providerTags,
        summary: 'Edit your provider profile and profile photo (created on first use)',
        body: UpdateProfileBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(OwnProviderSchema) },
      },
    },
    async (request) => ({ success: true, data: await catalog.updateOwnProfile(actorOf(request), request.body) }),
  );

  app.get(
    '/provider/gallery',
    {
      config: own,
      schema: {
        operationId: 'catalog.getOwnGallery',
        description:
          'The photos of your gallery in their order, with their variants, also while your profile awaits verification. Empty when you have none (or no profile yet).',
        tags: providerTags,
        summary: 'Your gallery, in its order',
        response: { ...errorResponses(), 200: Success(Type.Array(ImageSchema)) },
      },
    },
    async (request) => ({ success: true, data: await catalog.ownGallery(actorOf(request)) }),
  );

  app.put(
    '/provider/gallery',
    {
      config: own,
      schema: {
        operationId: 'catalog.replaceGallery',
        description:
          'Your gallery becomes `media_ids`, in that order (at most 12, no repeats; `[]` empties it): each one of your uploads made with `POST /media?purpose=gallery`. Any other id, someone else’s upload or one made for another purpose answers 400 naming `body.media_ids`, and the gallery is unchanged. Deleting an upload (DELETE /media/:id) takes it out of the gallery.',
        tags: providerTags,
        summary: 'Replace your gallery (at most 12 of your own gallery uploads, in order)',
        body: ReplaceGalleryBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(Type.Array(ImageSchema)) },
      },
    },
    async (request) => ({ success: true, data: await catalog.replaceGallery(actorOf(request), request.body) }),
  );

  app.get(
    '/provider/services',
    {
      config: own,
      schema: {
        operationId: 'catalog.listOwnServices',
        description:
          'All your services, active or not, with price, duration, buffer, payment mode and cancellation terms.',
        tags: providerTags,
        summary: 'Your services, active or not, newest first',
        response: { ...errorResponses(), 200: Success(Type.Array(ServiceSchema)) },
      },
    },
    async (request) => ({ success: true, data: await catalog.listOwnServices(actorOf(request)) }),
  );

  app.post(
    '/provider/services',
    {
      config: own,
      schema: {
        operationId: 'catalog.createService',
        description:
          'Adds a service in one category with its duration, buffer between visits, price and currency, payment mode and cancellation terms, and optionally its photo (`image_media_id`: one of your uploads made with `POST /media?purpose=service`, else 400 naming `body.image_media_id`). A service paid at booking needs a ready payout account (POST /provider/payouts/onboarding).',
        tags: providerTags,
        summary: 'Offer a service (price in integer minor units of `currency`)',
        body: CreateServiceBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 201: Success(ServiceSchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await catalog.createService(actorOf(request), request.body) }),
  );

  app.patch(
    '/provider/services/:id',
    {
      config: own,
      schema: {
        operationId: 'catalog.updateService',
        description:
          "Changes the fields sent; bookings already made keep the price and duration they were made with. `image_media_id` is one of your uploads made with `POST /media?purpose=service` (null removes the photo). Another provider's service answers 404.",
        tags: providerTags,
        summary: 'Edit one of your services',
        params: IdParams,
        body: UpdateServiceBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(ServiceSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await catalog.updateService(actorOf(request), request.params.id, request.body),
    }),
  );

  app.delete(
    '/provider/services/:id',
    {
      config: own,
      schema: {
        operationId: 'catalog.deleteService',
        description:
          "Deactivates the service: it leaves search and slots at once, and past and upcoming bookings keep it. Another provider's service answers 404.",
        tags: providerTags,
        summary: 'Stop offering one of your services (kept inactive for past bookings)',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await catalog.deleteService(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  // --- admin ---

  const admin = { access: requirePermission('catalog:admin'), etag: false };
  const adminTags = ['admin'];

  app.get(
    '/admin/categories',
    {
      config: admin,
      schema: {
        operationId: 'admin.listCategories',
        description: 'All categories, active or not, flat with `parent_id`.',
        tags: adminTags,
        summary: 'Every category, active or not, flat with `parent_id`',
        response: { ...errorResponses(), 200: Success(Type.Array(CategorySchema)) },
      },
    },
    async () => ({ success: true, data: await catalog.adminListCategories() }),
  );

  app.post(
    '/admin/categories',
    {
      config: admin,
      schema: {
        operationId: 'admin.createCategory',
        description:
          'A new category with a unique slug, under `parent_id` when given (audited). A slug already in use answers 409.',
        tags: adminTags,
        summary: 'Create a category, optionally under a parent',
        body: CreateCategoryBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'CONFLICT'), 201: Success(CategorySchema) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ success: true, data: await catalog.createCategory(actorOf(request), request.body) }),
  );

  app.patch(
    '/admin/categories/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.updateCategory',
        description: 'Changes the name, parent (a move that would make a cycle answers 409) or active state (audited).',
        tags: adminTags,
        summary: 'Rename, move (no cycles) or (de)activate a category',
        params: IdParams,
        body: UpdateCategoryBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CONFLICT'), 200: Success(CategorySchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await catalog.updateCategory(actorOf(request), request.params.id, request.body),
    }),
  );

  app.delete(
    '/admin/categories/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.deleteCategory',
        description:
          'Deletes an empty category (audited). One that still has subcategories or services answers 409: deactivate it instead.',
        tags: adminTags,
        summary: 'Delete a category without subcategories or services (else 409)',
        params: IdParams,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND', 'CONFLICT'), 204: Type.Null() },
      },
    },
    async (request, reply) => {
      await catalog.deleteCategory(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/admin/providers',
    {
      config: admin,
      schema: {
        operationId: 'admin.listProviders',
        description:
          'Provider profiles with their account id, verification state and reason, oldest first, optionally only `pending`, `verified` or `rejected`, a page at a time.',
        tags: adminTags,
        summary: 'Provider profiles, oldest first, optionally by verification state',
        querystring: AdminProvidersQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(Type.Array(AdminProviderSchema), NextCursorMeta),
        },
      },
    },
    async (request) => {
      const page = await catalog.adminListProviders(request.query);
      return { success: true, data: page.items, meta: { next_cursor: page.nextCursor } };
    },
  );

  app.patch(
    '/admin/providers/:id',
    {
      config: admin,
      schema: {
        operationId: 'admin.verifyProvider',
        description:
          'Sets a profile to verified (it appears in search and can be booked) or rejected with a reason the provider sees (audited).',
        tags: adminTags,
        summary: 'Verify or reject a provider (a reason is required to reject); audited',
        params: IdParams,
        body: VerifyProviderBody,
        response: { ...errorResponses('VALIDATION_ERROR', 'NOT_FOUND'), 200: Success(AdminProviderSchema) },
      },
    },
    async (request) => ({
      success: true,
      data: await catalog.setVerification(actorOf(request), request.params.id, request.body),
    }),
  );
};

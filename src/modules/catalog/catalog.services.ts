import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import type { CatalogCache } from './catalog.cache.js';
import { toPublicService, toService } from './catalog.dto.js';
import type { OwnProfiles } from './catalog.providers.js';
import type { CatalogRepository } from './catalog.repository.js';
import type { CreateServiceInput, PublicService, Service, UpdateServiceInput } from './catalog.schemas.js';
import type { CatalogMedia } from './catalog.service.js';
import type { ProviderRow, ServiceRow } from './catalog.tables.js';

// Any change to the catalog bumps its generation, so this bounds only how long an unread entry lingers.
const SERVICE_TTL_MS = 3_600_000;
/** The shape of a cached service page, stamped into its key (release 0.2 had no `image`). */
const SERVICE_FORMAT = 'service-v2';

/**
 * The services a provider offers. Creating or editing one rebuilds its search document in the
 * same transaction, so search never finds a service under its old text.
 */
export function createProviderServiceUseCases(deps: {
  db: Db;
  repository: CatalogRepository;
  cache: Pick<CatalogCache, 'services' | 'invalidate'>;
  clock: Clock;
  ids: IdGenerator;
  ownProfiles: OwnProfiles;
  media: CatalogMedia;
}) {
  const { db, repository, cache, clock, ids, ownProfiles, media } = deps;

  /** A service's photo must be one of the provider's own uploads made for services. */
  const checkImage = async (tx: Db, actor: Actor, mediaId: string | null | undefined, current?: string | null) => {
    if (!mediaId || mediaId === current) return;
    await media.checkLinkable(tx, {
      userId: actor.id,
      ids: [mediaId],
      purpose: 'service',
      field: 'body.image_media_id',
    });
  };

  /** A service may only be filed under an existing, active category. */
  const checkCategory = async (tx: Db, categoryId: string) => {
    const found = await repository.findCategory(tx, categoryId);
    if (!found?.active) throw invalidField('body.category_id', 'is not an active category');
  };

  /** A service paid online needs a provider the gateway can pay out. */
  const checkPayouts = (provider: ProviderRow, paymentMode: string | undefined, active: boolean) => {
    if (paymentMode === 'required' && active && !provider.payoutsEnabled) {
      throw new AppError(
        'PAYOUTS_NOT_READY',
        'A service paid online needs your payout account first: POST /api/v1/provider/payouts/onboarding',
      );
    }
  };

  /** The caller's own service, locked for the transaction. */
  const ownService = async (tx: Db, actor: Actor, id: string) => {
    const provider = await repository.findProviderByUser(tx, actor.id);
    const found = provider ? await repository.findService(tx, id, { forUpdate: true }) : undefined;
    // Another provider's service is not the caller's to know about: the same 404 as a missing one.
    if (!provider || !found || found.providerId !== provider.id) throw notFound('Service');
    return found;
  };

  return {
    /** An active service of a verified provider as anyone sees it; any other is 404. */
    async publicService(id: string): Promise<PublicService> {
      const found = await cache.services.get(`${SERVICE_FORMAT}:${id}`, SERVICE_TTL_MS, async () => {
        const row = await repository.publicService(db, id);
        if (!row) return undefined;
        const linked = row.service.imageMediaId ? [row.service.imageMediaId] : [];
        return toPublicService(row, await media.images(linked, db));
      });
      if (!found) throw notFound('Service');
      return found;
    },

    async listOwnServices(actor: Actor): Promise<Service[]> {
      const provider = await repository.findProviderByUser(db, actor.id);
      return provider ? (await repository.servicesOfProvider(db, provider.id)).map(toService) : [];
    },

    async createService(actor: Actor, input: CreateServiceInput): Promise<Service> {
      const defaults = await ownProfiles.defaults(actor);
      const created = await inTransaction(db, async (tx) => {
        const provider = await ownProfiles.ensure(tx, actor, defaults);
        await checkCategory(tx, input.category_id);
        checkPayouts(provider, input.payment, input.is_active ?? true);
        await checkImage(tx, actor, input.image_media_id);
        const now = clock.now();
        const row = await repository.insertService(tx, {
          id: ids(),
          providerId: provider.id,
          categoryId: input.category_id,
          name: input.name,
          description: input.description ?? '',
          durationMinutes: input.duration_minutes,
          bufferMinutes: input.buffer_minutes ?? 0,
          priceMinor: input.price_minor,
          currency: input.currency,
          isActive: input.is_active ?? true,
          paymentMode: input.payment ?? 'at_visit',
          freeCancelHours: input.free_cancel_hours ?? 24,
          lateCancelFeeBps: input.late_cancel_fee_bps ?? 0,
          imageMediaId: input.image_media_id ?? null,
          createdAt: now,
          updatedAt: now,
        });
        await repository.refreshSearchTextOfService(tx, row.id);
        return row;
      });
      await cache.invalidate();
      return toService(created);
    },

    async updateService(actor: Actor, id: string, patch: UpdateServiceInput): Promise<Service> {
      const updated = await inTransaction(db, async (tx) => {
        const current = await ownService(tx, actor, id);
        if (patch.category_id !== undefined && patch.category_id !== current.categoryId) {
          await checkCategory(tx, patch.category_id);
        }
        const provider = await repository.findProvider(tx, current.providerId);
        if (provider) {
          checkPayouts(provider, patch.payment ?? current.paymentMode, patch.is_active ?? current.isActive);
        }
        await checkImage(tx, actor, patch.image_media_id, current.imageMediaId);
        const row = await repository.updateService(tx, id, {
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.category_id !== undefined ? { categoryId: patch.category_id } : {}),
          ...(patch.duration_minutes !== undefined ? { durationMinutes: patch.duration_minutes } : {}),
          ...(patch.buffer_minutes !== undefined ? { bufferMinutes: patch.buffer_minutes } : {}),
          ...(patch.price_minor !== undefined ? { priceMinor: patch.price_minor } : {}),
          ...(patch.currency !== undefined ? { currency: patch.currency } : {}),
          ...(patch.is_active !== undefined ? { isActive: patch.is_active } : {}),
          ...(patch.payment !== undefined ? { paymentMode: patch.payment } : {}),
          ...(patch.free_cancel_hours !== undefined ? { freeCancelHours: patch.free_cancel_hours } : {}),
          ...(patch.late_cancel_fee_bps !== undefined ? { lateCancelFeeBps: patch.late_cancel_fee_bps } : {}),
          ...(patch.image_media_id !== undefined ? { imageMediaId: patch.image_media_id } : {}),
          updatedAt: clock.now(),
        });
        await repository.refreshSearchTextOfService(tx, id);
        return row;
      });
      await cache.invalidate();
      return toService(updated);
    },

    /** Soft: the service is no longer offered, past bookings keep pointing at it. */
    async deleteService(actor: Actor, id: string): Promise<void> {
      await inTransaction(db, async (tx) => {
        await ownService(tx, actor, id);
        await repository.updateService(tx, id, { isActive: false, updatedAt: clock.now() });
      });
      await cache.invalidate();
    },

    /** The service if it is active and its provider verified, with the provider; else undefined. */
    async bookableService(
      serviceId: string,
      tx: Db = db,
    ): Promise<{ service: ServiceRow; provider: ProviderRow } | undefined> {
      return repository.bookable(tx, serviceId);
    },
  };
}

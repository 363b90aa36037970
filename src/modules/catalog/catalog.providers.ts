import { invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import { afterCommit } from '../../infra/db/transaction-context.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor } from '../../shared/actor.js';
import { isTimeZone } from '../../shared/zoned-time.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { IdentityService } from '../identity/index.js';
import type { PublicImage } from '../media/index.js';
import type { CatalogCache } from './catalog.cache.js';
import { toAdminProvider, toOwnProvider, toProviderPage } from './catalog.dto.js';
import type { CatalogRepository } from './catalog.repository.js';
import type {
  AdminProvider,
  AdminProvidersQueryInput,
  OwnProvider,
  ProviderPage,
  ReplaceGalleryInput,
  UpdateProfileInput,
  VerifyProviderInput,
} from './catalog.schemas.js';
import type { CatalogMedia } from './catalog.service.js';
import type { ProviderRow } from './catalog.tables.js';

const PROVIDER_TTL_MS = 3_600_000;
/**
 * The shape of a cached provider page, stamped into its key: during a rolling deploy an older
 * instance's entry (the profile without `services`, or without `avatar` and `gallery`) is never read as a page.
 */
const PAGE_FORMAT = 'page-v3';

/** What a new profile starts from. */
export interface ProfileDefaults {
  displayName: string;
  timeZone: string;
}

/** The signed-in provider's own profile, created (pending verification) on first use. */
export function createOwnProfiles(deps: {
  db: Db;
  repository: CatalogRepository;
  clock: Clock;
  ids: IdGenerator;
  /** Names a new profile after its owner's account. */
  identity: Pick<IdentityService, 'getAccount'>;
}) {
  const { db, repository, clock, ids } = deps;
  return {
    /**
     * The account's name and time zone, or undefined when the profile exists. Read before the
     * transaction opens: the identity service queries through the global handle.
     */
    async defaults(actor: Actor): Promise<ProfileDefaults | undefined> {
      if (await repository.findProviderByUser(db, actor.id)) return undefined;
      const account = await deps.identity.getAccount(actor.id);
      return { displayName: account?.name?.trim() || 'New provider', timeZone: account?.timeZone ?? 'UTC' };
    },

    /** The provider's profile, locked for the transaction; created from `defaults` when missing. */
    async ensure(tx: Db, actor: Actor, defaults: ProfileDefaults | undefined): Promise<ProviderRow> {
      const existing = await repository.findProviderByUser(tx, actor.id, { forUpdate: true });
      if (existing) return existing;
      const now = clock.now();
      const created = await repository.insertProvider(tx, {
        id: ids(),
        userId: actor.id,
        displayName: defaults?.displayName ?? 'New provider',
        bio: '',
        languages: ['en'],
        timeZone: defaults?.timeZone ?? 'UTC',
        verification: 'pending',
        createdAt: now,
        updatedAt: now,
      });
      // Lost a race with the provider's own concurrent first request: read the winner's row.
      return created ?? ((await repository.findProviderByUser(tx, actor.id, { forUpdate: true })) as ProviderRow);
    },
  };
}

export type OwnProfiles = ReturnType<typeof createOwnProfiles>;

/**
 * Provider profiles: the provider edits their own, admins verify or reject (audited), anyone
 * reads a verified one; ratings follow reviews. Only verified providers are listed and bookable.
 */
export function createProviderUseCases(deps: {
  db: Db;
  repository: CatalogRepository;
  audit: Pick<AuditService, 'record'>;
  cache: Pick<CatalogCache, 'providers' | 'invalidate'>;
  clock: Clock;
  ownProfiles: OwnProfiles;
  media: CatalogMedia;
}) {
  const { db, repository, audit, cache, clock, ownProfiles, media } = deps;

  /** The gallery's images in their order (one read of the media for all of them). */
  const galleryImages = async (tx: Db, providerId: string): Promise<PublicImage[]> => {
    const mediaIds = await repository.galleryOf(tx, providerId);
    const images = await media.images(mediaIds, tx);
    return mediaIds.flatMap((mediaId) => images.get(mediaId) ?? []);
  };

  return {
    async ownProfile(actor: Actor): Promise<OwnProvider> {
      const defaults = await ownProfiles.defaults(actor);
      return toOwnProvider(await inTransaction(db, (tx) => ownProfiles.ensure(tx, actor, defaults)));
    },

    /** A rename rewrites the search document of all the provider's services, in the same transaction. */
    async updateOwnProfile(actor: Actor, patch: UpdateProfileInput): Promise<OwnProvider> {
      if (patch.time_zone !== undefined && !isTimeZone(patch.time_zone)) {
        throw invalidField('body.time_zone', 'is not an IANA time zone');
      }
      const defaults = await ownProfiles.defaults(actor);
      const updated = await inTransaction(db, async (tx) => {
        const current = await ownProfiles.ensure(tx, actor, defaults);
        if (patch.avatar_media_id && patch.avatar_media_id !== current.avatarMediaId) {
          await media.checkLinkable(tx, {
            userId: actor.id,
            ids: [patch.avatar_media_id],
            purpose: 'avatar',
            field: 'body.avatar_media_id',
          });
        }
        const row = await repository.updateProvider(tx, current.id, {
          ...(patch.display_name !== undefined ? { displayName: patch.display_name } : {}),
          ...(patch.bio !== undefined ? { bio: patch.bio } : {}),
          ...(patch.city !== undefined ? { city: patch.city } : {}),
          ...(patch.country !== undefined ? { country: patch.country } : {}),
          ...(patch.languages !== undefined ? { languages: patch.languages } : {}),
          ...(patch.time_zone !== undefined ? { timeZone: patch.time_zone } : {}),
          ...(patch.auto_confirm !== undefined ? { autoConfirm: patch.auto_confirm } : {}),
          ...(patch.avatar_media_id !== undefined ? { avatarMediaId: patch.avatar_media_id } : {}),
          updatedAt: clock.now(),
        });
        if (patch.display_name !== undefined && patch.display_name !== current.displayName) {
          await repository.refreshSearchTextOfProvider(tx, current.id);
        }
        return row;
      });
      await cache.invalidate();
      return toOwnProvider(updated);
    },

    /** The provider's own gallery, in its order (shown while the profile awaits verification too). */
    async ownGallery(actor: Actor): Promise<PublicImage[]> {
      const provider = await repository.findProviderByUser(db, actor.id);
      return provider ? galleryImages(db, provider.id) : [];
    },

    /**
     * The gallery becomes `media_ids`, in that order: each one of the provider's own uploads made
     * for the gallery. Concurrent replacements take turns on the profile's row lock; the last wins whole.
     */
    async replaceGallery(actor: Actor, input: ReplaceGalleryInput): Promise<PublicImage[]> {
      const defaults = await ownProfiles.defaults(actor);
      const gallery = await inTransaction(db, async (tx) => {
        const provider = await ownProfiles.ensure(tx, actor, defaults);
        await media.checkLinkable(tx, {
          userId: actor.id,
          ids: input.media_ids,
          purpose: 'gallery',
          field: 'body.media_ids',
        });
        await repository.replaceGallery(tx, provider.id, input.media_ids);
        await repository.updateProvider(tx, provider.id, { updatedAt: clock.now() });
        return galleryImages(tx, provider.id);
      });
      await cache.invalidate();
      return gallery;
    },

    /** A verified provider's public profile with their photos and active services; anyone else's is 404. */
    async publicProfile(id: string): Promise<ProviderPage> {
      // Any change to a service, a photo link or an upload bumps the catalog generation too, so the cached page never lags.
      const profile = await cache.providers.get(`${PAGE_FORMAT}:${id}`, PROVIDER_TTL_MS, async () => {
        const row = await repository.findProvider(db, id);
        if (row?.verification !== 'verified') return undefined;
        const [offered, gallery] = await Promise.all([
          repository.servicesOfProvider(db, id),
          repository.galleryOf(db, id),
        ]);
        const linked = [
          ...(row.avatarMediaId ? [row.avatarMediaId] : []),
          ...gallery,
          ...offered.flatMap((service) => (service.isActive && service.imageMediaId ? [service.imageMediaId] : [])),
        ];
        return toProviderPage(row, { offered, gallery, images: await media.images(linked, db) });
      });
      if (!profile) throw notFound('Provider');
      return profile;
    },

    async adminListProviders(
      query: AdminProvidersQueryInput,
    ): Promise<{ items: AdminProvider[]; nextCursor: string | null }> {
      const rows = await repository.listProviders(db, {
        verification: query.verification,
        afterId: query.cursor,
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      return {
        items: page.map(toAdminProvider),
        nextCursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      };
    },

    /** Verify or reject (with a reason) a provider; audited. */
    async setVerification(actor: Actor, id: string, input: VerifyProviderInput): Promise<AdminProvider> {
      if (input.verification === 'rejected' && !input.reason?.trim()) {
        throw invalidField('body.reason', 'is required when rejecting a provider');
      }
      const updated = await inTransaction(db, async (tx) => {
        const current = await repository.findProvider(tx, id, { forUpdate: true });
        if (!current) throw notFound('Provider');
        const row = await repository.updateProvider(tx, id, {
          verification: input.verification,
          verificationReason: input.reason ?? null,
          updatedAt: clock.now(),
        });
        await audit.record(tx, auditContextOf(actor), {
          action: 'catalog.provider_verification',
          targetType: 'provider',
          targetId: id,
          details: { verification: input.verification, previous: current.verification, reason: input.reason ?? null },
        });
        return row;
      });
      await cache.invalidate();
      return toAdminProvider(updated);
    },

    /** The payments module's word on whether the gateway can pay this provider out (its onboarding). */
    async setPayoutsEnabled(tx: Db, providerId: string, enabled: boolean): Promise<void> {
      await repository.updateProvider(tx, providerId, { payoutsEnabled: enabled, updatedAt: clock.now() });
    },

    /** The provider profile a user owns, if any. */
    async providerOfUser(userId: string, tx: Db = db): Promise<ProviderRow | undefined> {
      return repository.findProviderByUser(tx, userId);
    },

    async findProvider(providerId: string, tx: Db = db): Promise<ProviderRow | undefined> {
      return repository.findProvider(tx, providerId);
    },

    /**
     * In the caller's transaction: adds a rating and/or removes one (a hidden review), the
     * average rounded to 2 places (null without ratings); cached profiles and searches go stale
     * once it commits (a read before that would cache the old rating again).
     */
    async applyReview(tx: Db, providerId: string, change: { add?: number; remove?: number }): Promise<void> {
      await repository.applyRating(tx, providerId, change);
      await afterCommit(
        () => cache.invalidate(),
        () => {},
      );
    },
  };
}

import { type PublicImage, toCardImage } from '../media/index.js';
import type { PublicServiceRow, SearchRow } from './catalog.repository.js';
import type {
  AdminProvider,
  Category,
  OwnProvider,
  ProviderPage,
  ProviderPageService,
  PublicProvider,
  PublicService,
  SearchResult,
  Service,
} from './catalog.schemas.js';
import type { CategoryRow, ProviderRow, ServiceRow } from './catalog.tables.js';

// Rows as the API shows them, one mapping per response schema, so every use case answers with
// exactly the documented fields.

export const toCategory = (row: CategoryRow): Category => ({
  id: row.id,
  parent_id: row.parentId,
  slug: row.slug,
  name: row.name,
  active: row.active,
});

export const toPublicProvider = (row: ProviderRow): PublicProvider => ({
  id: row.id,
  display_name: row.displayName,
  bio: row.bio,
  city: row.city,
  country: row.country,
  languages: row.languages,
  time_zone: row.timeZone,
  rating_average: row.ratingAverage,
  rating_count: row.ratingCount,
});

export const toOwnProvider = (row: ProviderRow): OwnProvider => ({
  ...toPublicProvider(row),
  avatar_media_id: row.avatarMediaId,
  verification: row.verification,
  verification_reason: row.verificationReason,
  auto_confirm: row.autoConfirm,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

export const toAdminProvider = (row: ProviderRow): AdminProvider => ({ ...toOwnProvider(row), user_id: row.userId });

export const toService = (row: ServiceRow): Service => ({
  id: row.id,
  provider_id: row.providerId,
  name: row.name,
  description: row.description,
  category_id: row.categoryId,
  duration_minutes: row.durationMinutes,
  buffer_minutes: row.bufferMinutes,
  price_minor: row.priceMinor,
  currency: row.currency,
  is_active: row.isActive,
  payment: row.paymentMode,
  free_cancel_hours: row.freeCancelHours,
  late_cancel_fee_bps: row.lateCancelFeeBps,
  image_media_id: row.imageMediaId,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
});

/** Linked images by media id, read in one go for a whole answer (catalog never reads media rows itself). */
export type Images = ReadonlyMap<string, PublicImage>;

/** The image a link points at, or null (none linked, or deleted since). */
const imageOf = (images: Images, mediaId: string | null): PublicImage | null =>
  (mediaId !== null ? images.get(mediaId) : undefined) ?? null;

/** The same with the variants a list shows (thumbnail and card). */
const cardOf = (images: Images, mediaId: string | null) => {
  const image = imageOf(images, mediaId);
  return image && toCardImage(image);
};

export const toSearchResult = (
  { service, provider, category }: Omit<SearchRow, 'key'>,
  images: Images,
): SearchResult => ({
  id: service.id,
  name: service.name,
  description: service.description,
  duration_minutes: service.durationMinutes,
  price_minor: service.priceMinor,
  currency: service.currency,
  category: { id: category.id, slug: category.slug, name: category.name },
  provider: {
    id: provider.id,
    display_name: provider.displayName,
    city: provider.city,
    country: provider.country,
    rating_average: provider.ratingAverage,
    rating_count: provider.ratingCount,
  },
  image: cardOf(images, service.imageMediaId),
  created_at: service.createdAt.toISOString(),
});

export const toPublicService = (row: PublicServiceRow, images: Images): PublicService => ({
  ...toSearchResult(row, images),
  image: imageOf(images, row.service.imageMediaId),
  buffer_minutes: row.terms.bufferMinutes,
  payment: row.terms.paymentMode,
  free_cancel_hours: row.terms.freeCancelHours,
  late_cancel_fee_bps: row.terms.lateCancelFeeBps,
});

const toProviderPageService = (row: ServiceRow, images: Images): ProviderPageService => ({
  id: row.id,
  name: row.name,
  description: row.description,
  category_id: row.categoryId,
  duration_minutes: row.durationMinutes,
  price_minor: row.priceMinor,
  currency: row.currency,
  payment: row.paymentMode,
  image: cardOf(images, row.imageMediaId),
});

/** The provider's page lists only what can be booked: the active services. */
export const toProviderPage = (
  provider: ProviderRow,
  page: { offered: ServiceRow[]; gallery: readonly string[]; images: Images },
): ProviderPage => ({
  ...toPublicProvider(provider),
  avatar: imageOf(page.images, provider.avatarMediaId),
  gallery: page.gallery.flatMap((mediaId) => page.images.get(mediaId) ?? []),
  services: page.offered
    .filter((service) => service.isActive)
    .map((service) => toProviderPageService(service, page.images)),
});

import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { mediaPersonalData } from './media.privacy.js';
import { createMediaRepository } from './media.repository.js';
import { mediaRoutes } from './media.routes.js';
import { createMediaService, type MediaService } from './media.service.js';
import { createDiskStore, createS3Store, type MediaStore } from './media.storage.js';

export { CardImageSchema, ImageSchema } from './media.schemas.js';
export {
  type CardImage,
  type LinkRequest,
  type MediaService,
  type PublicImage,
  type PublicMedia,
  toCardImage,
} from './media.service.js';
export { MEDIA_PURPOSES, type MediaPurpose } from './media.tables.js';

/**
 * Image uploads: checked by content, resized into variants without metadata, stored on disk
 * (MEDIA_DIR) or in an S3 bucket (S3_BUCKET), served content-addressed for a CDN to keep.
 */
export function createMediaModule(platform: Platform): ModuleDescriptor<'media', MediaService> {
  const { media: config } = platform.config;
  const store: MediaStore = config.s3 ? createS3Store(config.s3) : createDiskStore(config.dir);
  const service = createMediaService({
    db: platform.db,
    repository: createMediaRepository(),
    store,
    clock: platform.clock,
    ids: platform.ids,
    logger: platform.logger,
    events: platform.events,
  });
  return {
    name: 'media',
    service,
    routes: async (api) => api.register(mediaRoutes, { media: service, maxBytes: config.maxBytes }),
    dataMap: mediaPersonalData(service),
    health: [{ name: 'media_store', required: false, kind: store.kind, check: () => store.ping() }],
  };
}

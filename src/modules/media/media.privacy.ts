import type { PersonalDataEntry } from '../../shared/data-map.js';
import type { MediaService } from './media.service.js';

/** Uploaded images: listed in an export, deleted with the account (their files once unused). */
export function mediaPersonalData(media: MediaService): PersonalDataEntry {
  return {
    module: 'media',
    description: 'Images you uploaded (their resized variants, sizes and purpose; never their metadata)',
    purposes: ['showing your photos on your profile, services and content'],
    legalBasis: 'contract',
    retention: 'until you delete them or erase your account',
    tables: ['media'],
    export: (tx, userId) => media.exportFor(tx, userId),
    async erase(tx, userId) {
      return { action: 'deleted', rows: await media.eraseFor(tx, userId) };
    },
  };
}

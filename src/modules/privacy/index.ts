export { createDataMap, type DataMap, type ErasureOutcome, type PersonalDataEntry } from '../../shared/data-map.js';
export { createPrivacyRepository } from './privacy.repository.js';
export { privacyRoutes } from './privacy.routes.js';
export { createPrivacyService, EXPORT_FORMAT, type PrivacyService } from './privacy.service.js';

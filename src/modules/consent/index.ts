export { createConsentRepository } from './consent.repository.js';
export { consentRoutes } from './consent.routes.js';
export { consentSeeder } from './consent.seed.js';
export { type ConsentService, type ConsentState, createConsentService } from './consent.service.js';
export { CONSENT_PURPOSES, type ConsentPurpose } from './consent.tables.js';

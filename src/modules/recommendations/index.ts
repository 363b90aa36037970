export type { BlockType, PlanBlock } from './plan-composer.js';
export { recommendationsRoutes } from './recommendations.routes.js';
export { createRecommendationsService, type RecommendationsService } from './recommendations.service.js';

import { createPeriodicJob, type PeriodicJob } from '../../infra/periodic.js';
import type { Platform } from '../../platform.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import type { Track } from '../analytics/index.js';
import type { ConsentService } from '../consent/index.js';
import type { IdentityService } from '../identity/index.js';
import type { Notify } from '../notifications/index.js';
import { remindersPersonalData } from './reminders.privacy.js';
import { createRemindersRepository } from './reminders.repository.js';
import { remindersRoutes } from './reminders.routes.js';
import { createRemindersService, type RemindersService } from './reminders.service.js';

export { occurrence } from './recurrence.js';
export { FREE_ACTIVE_REMINDERS, type RemindersService } from './reminders.service.js';

export type RemindersModule = ModuleDescriptor<'reminders', RemindersService> & {
  jobs: { reminders: PeriodicJob<number> };
};

/** Reminders people set for themselves, and the scheduler that sends each occurrence once. */
export function createRemindersModule(
  platform: Platform,
  deps: {
    identity: Pick<IdentityService, 'getAccount'>;
    consent: Pick<ConsentService, 'has'>;
    notify: Notify;
    track: Track;
  },
): RemindersModule {
  const repository = createRemindersRepository();
  const service = createRemindersService({
    db: platform.db,
    repository,
    identity: deps.identity,
    consent: deps.consent,
    notify: deps.notify,
    track: deps.track,
    clock: platform.clock,
    ids: platform.ids,
  });
  return {
    name: 'reminders',
    service,
    routes: async (api) => api.register(remindersRoutes, { reminders: service }),
    dataMap: remindersPersonalData(repository),
    // Enqueues due occurrences; resolves with how many were sent.
    jobs: {
      reminders: createPeriodicJob({
        name: 'reminders',
        intervalMs: platform.config.remindersPollIntervalMs,
        run: () => service.runDue(),
        logger: platform.logger.child({ component: 'reminders' }),
      }),
    },
  };
}

export { createRemindersRepository } from './reminders.repository.js';
export { remindersRoutes } from './reminders.routes.js';
export { createRemindersService, FREE_ACTIVE_REMINDERS, type RemindersService } from './reminders.service.js';

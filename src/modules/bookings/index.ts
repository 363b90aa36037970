export { createBookingsRepository } from './bookings.repository.js';
export { bookingsRoutes } from './bookings.routes.js';
export { bookingsSeeder } from './bookings.seed.js';
export {
  BOOKING_REMIND,
  type BookingsService,
  CUSTOMER_CANCEL_CUTOFF_MS,
  createBookingsService,
} from './bookings.service.js';
export { freeSlots, isFreeSlot, type Schedule } from './bookings.slots.js';

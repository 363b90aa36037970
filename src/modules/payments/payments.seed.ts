import { and, eq, isNull } from 'drizzle-orm';
import type { Clock } from '../../infra/clock.js';
import type { Seeder } from '../../infra/db/seed.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import { bookings } from '../bookings/bookings.tables.js';
import { providers, services } from '../catalog/catalog.tables.js';
import { createLedger } from './payments.ledger.js';
import { commissionFor } from './payments.money.js';
import { payments, payoutAccounts } from './payments.tables.js';

/**
 * Payments demo data: a simulated payout account for every provider the catalogue seeded as
 * onboarded, and, for the demo's past completed visits with them, the payments they would have
 * taken (captured, with their ledger entries), so the earnings page and the admin revenue view
 * have something to show after `npm start`. Idempotent: a visit that has a payment is left alone.
 */
export const createPaymentsSeeder = (deps: { clock: Clock; ids: IdGenerator; commissionRateBps: number }): Seeder => ({
  name: 'payments: payout accounts and past payments',
  async run(db) {
    const ledger = createLedger({ ids: deps.ids, clock: deps.clock });
    const onboarded = await db.select().from(providers).where(eq(providers.payoutsEnabled, true));
    for (const provider of onboarded) {
      const now = deps.clock.now();
      await db
        .insert(payoutAccounts)
        .values({
          providerId: provider.id,
          gateway: 'simulated',
          accountId: `sim_acct_${provider.id}`,
          payoutsEnabled: true,
          detailsSubmitted: true,
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing();
      const visits = await db
        .select({ booking: bookings, categoryId: services.categoryId })
        .from(bookings)
        .innerJoin(services, eq(services.id, bookings.serviceId))
        .leftJoin(payments, eq(payments.bookingId, bookings.id))
        .where(and(eq(bookings.providerId, provider.id), eq(bookings.status, 'completed'), isNull(payments.id)));
      for (const { booking, categoryId } of visits) {
        const paidAt = booking.createdAt;
        const commissionMinor = commissionFor({
          amountMinor: booking.priceMinor,
          currency: booking.currency,
          rateBps: deps.commissionRateBps,
        });
        await inTransaction(db, async (tx) => {
          const paymentId = deps.ids();
          await tx.insert(payments).values({
            id: paymentId,
            purpose: 'booking',
            bookingId: booking.id,
            payerId: booking.customerId,
            providerId: provider.id,
            categoryId,
            gateway: 'simulated',
            gatewayPaymentId: `sim_pi_${paymentId}`,
            status: 'succeeded',
            amountMinor: booking.priceMinor,
            currency: booking.currency,
            commissionRateBps: deps.commissionRateBps,
            commissionMinor,
            capturedMinor: booking.priceMinor,
            method: 'card',
            cardBrand: 'visa',
            cardLast4: '4242',
            destinationAccountId: `sim_acct_${provider.id}`,
            freeCancelHours: 24,
            lateCancelFeeBps: 0,
            createdAt: paidAt,
            updatedAt: paidAt,
          });
          await ledger.recordCapture(tx, {
            paymentId,
            gateway: 'simulated',
            providerId: provider.id,
            currency: booking.currency,
            amountMinor: booking.priceMinor,
            commissionMinor,
            occurredAt: paidAt,
          });
          await tx.update(bookings).set({ paymentStatus: 'succeeded' }).where(eq(bookings.id, booking.id));
        });
      }
    }
  },
});

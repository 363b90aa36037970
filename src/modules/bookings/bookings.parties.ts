import { AppError, notFound } from '../../errors.js';
import type { Db } from '../../infra/db/client.js';
import type { Actor } from '../../shared/actor.js';
import type { CatalogService, ProviderRow } from '../catalog/index.js';
import type { BookingRow } from './bookings.tables.js';

/** Who someone is to a booking. */
export type Party = 'customer' | 'provider';

type ProviderLookup = Pick<CatalogService, 'providerOfUser'>;

/** The signed-in provider's profile; a provider account without one has nothing to manage yet. */
export async function ownProvider(catalog: ProviderLookup, actor: Actor, db: Db): Promise<ProviderRow> {
  const provider = await catalog.providerOfUser(actor.id, db);
  if (!provider) throw new AppError('NOT_FOUND', 'You have no provider profile yet (POST /provider/profile)');
  return provider;
}

/** Who the actor is to this booking; anyone else is told it does not exist. */
export async function partyOf(catalog: ProviderLookup, db: Db, actor: Actor, booking: BookingRow): Promise<Party> {
  if (booking.customerId !== null && booking.customerId === actor.id) return 'customer';
  const provider = await catalog.providerOfUser(actor.id, db);
  if (provider && provider.id === booking.providerId) return 'provider';
  throw notFound('Booking');
}

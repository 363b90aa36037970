/** The data the journeys run on, made through the API before the run (bench/load/setup.ts). */

export const JOURNEY_NAMES = [
  'browse',
  'book',
  'provider',
  'wellness',
  'reader',
  'reminders',
  'analytics',
  'admin',
] as const;
export type JourneyName = (typeof JOURNEY_NAMES)[number];

export interface Account {
  userId: string;
  email: string;
  password: string;
}

export interface LoadProvider {
  /** The provider profile's id (what /providers/:id takes). */
  id: string;
  owner: Account;
  /** A 15-minute service paid online at booking, no buffer: the one booking virtual users book. */
  bookingServiceId: string;
  serviceIds: string[];
}

export interface ContentRef {
  id: string;
  slug: string;
  type: string;
  tier: 'free' | 'premium';
}

export interface LoadData {
  /** Per journey, one account per virtual user (none for anonymous browsing). */
  accounts: Record<JourneyName, Account[]>;
  /** The load test's providers; the first `bookable` are the ones provider VUs manage and booking VUs book. */
  providers: LoadProvider[];
  bookable: number;
  searchTerms: string[];
  cities: string[];
  content: { free: ContentRef[]; premium: ContentRef[] };
}

/** Minutes of the booked service: the grid step, so virtual users sharing a provider can split its slots. */
export const BOOKING_SERVICE_MINUTES = 15;

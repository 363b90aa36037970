import type { Db } from '../infra/db/client.js';

/** What erasing did to one module's data about a person. */
export interface ErasureOutcome {
  /** deleted: gone; pseudonymised: kept without anything that names the person; retained: kept by law. */
  action: 'deleted' | 'pseudonymised' | 'retained';
  rows: number;
  note?: string;
}

/**
 * One module's entry in the privacy data map: what personal data it holds about a person,
 * why, for how long, and how to export and erase it. Every table with a `user_id` column
 * must be named by some entry (test/privacy/data-map.test.ts walks the catalogue).
 */
export interface PersonalDataEntry {
  module: string;
  description: string;
  purposes: string[];
  legalBasis: string;
  retention: string;
  /** Tables holding data about the person (those with a user_id column, and any other). */
  tables: string[];
  /** Everything the module holds about the person, as plain JSON. */
  export(tx: Db, userId: string): Promise<unknown>;
  /** Erases (or pseudonymises) it inside the erasure transaction. */
  erase(tx: Db, userId: string): Promise<ErasureOutcome>;
  /** Erased after every other entry (the account row, which the others point at). */
  eraseLast?: boolean;
}

export interface DataMap {
  register(entry: PersonalDataEntry): void;
  entries(): readonly PersonalDataEntry[];
}

export function createDataMap(): DataMap {
  const registered: PersonalDataEntry[] = [];
  return {
    register(entry) {
      if (registered.some((existing) => existing.module === entry.module)) {
        throw new Error(`privacy data map: "${entry.module}" is already registered`);
      }
      registered.push(entry);
    },
    // Registration order, with the entries that must go last moved to the end.
    entries: () => [
      ...registered.filter((entry) => !entry.eraseLast),
      ...registered.filter((entry) => entry.eraseLast),
    ],
  };
}

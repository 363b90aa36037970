import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { AppError } from '../errors.js';
import type { Db } from '../infra/db/client.js';

/**
 * `Idempotency-Key` on the requests that create something that must happen once (a booking, a
 * payment): the key is claimed in the transaction of the change, a replay with the same body
 * gets the first answer back, the same key with another body is 409 IDEMPOTENCY_KEY_REUSED.
 */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'makes a retry safe: the first answer comes back' }),
  ),
});

/** Whose key, for which kind of request. */
export interface IdempotencyKeyRef {
  userId: string;
  scope: string;
  key: string;
}

export interface StoredAnswer {
  requestHash: string;
  statusCode: number;
  response: unknown;
}

/** Where claimed keys and their answers are kept (the idempotency module). */
export interface IdempotencyStore {
  find(db: Db, ref: IdempotencyKeyRef): Promise<StoredAnswer | undefined>;
  /** Claims the key in the caller's transaction; false when it is taken (a concurrent claim waits). */
  claim(tx: Db, ref: IdempotencyKeyRef, requestHash: string): Promise<boolean>;
  /** Stores the answer with the claim, in the same transaction (again: replaces it). */
  complete(tx: Db, ref: IdempotencyKeyRef, answer: { statusCode: number; response: unknown }): Promise<void>;
  /** Gives the key up: the request failed in a way a retry may not (the gateway did not answer). */
  release(tx: Db, ref: IdempotencyKeyRef): Promise<void>;
}

/** The fingerprint of a request body, canonicalised by the caller (ids, ISO times). */
export const requestHashOf = (canonical: unknown): string =>
  createHash('sha256').update(JSON.stringify(canonical)).digest('hex');

/** The stored answer for a replay of the same request; 409 when the key came with another one. */
export function replayOf(stored: StoredAnswer, requestHash: string): { statusCode: number; response: unknown } {
  if (stored.requestHash !== requestHash) {
    throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request');
  }
  return { statusCode: stored.statusCode, response: stored.response };
}

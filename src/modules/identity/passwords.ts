import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { AppError } from '../../errors.js';

/** OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane. Hashing runs on libuv's pool, off the event loop. */
// algorithm 2 is Argon2id (a const enum in the typings, which isolatedModules cannot read).
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

// ~49,000 passwords ranked by frequency in breach corpora (zxcvbn-ts); well over the 10,000 most common.
let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

/** Why a password is refused, or undefined when it is acceptable. No composition rules (NIST 800-63B). */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if (commonPasswords().has(password.toLowerCase())) return 'is too common: it appears in lists of breached passwords';
  return undefined;
}

/** Throws 400 WEAK_PASSWORD naming `field` when the password is refused. */
export function requireStrongPassword(password: string, field: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new AppError('WEAK_PASSWORD', `Password ${problem}`, { details: [{ field, message: problem }] });
}

/**
 * Argon2 runs on libuv's threads; on a small machine a burst of sign-ins would take every core
 * from the event loop and every other request would wait. At most `concurrency` hashes run at
 * once (default: one less than the CPU count), at most `queue` wait, and beyond that a sign-in
 * gets 503 at once instead of stalling everyone.
 */
const slots = { concurrency: Math.max(1, availableParallelism() - 1), queue: 64, running: 0 };
const waiting: (() => void)[] = [];
let onQueueChange: ((length: number) => void) | undefined;

export function configurePasswordHashing(options: {
  concurrency: number;
  queue: number;
  onQueueChange?: (length: number) => void;
}): void {
  slots.concurrency = Math.max(1, options.concurrency);
  slots.queue = Math.max(1, options.queue);
  onQueueChange = options.onQueueChange;
}

async function withSlot<T>(work: () => Promise<T>): Promise<T> {
  if (slots.running >= slots.concurrency) {
    if (waiting.length >= slots.queue) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'Too many sign-ins are being checked right now; retry in a few seconds',
        {
          headers: { 'retry-after': '2' },
        },
      );
    }
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      onQueueChange?.(waiting.length);
    });
  } else {
    slots.running++;
  }
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) {
      onQueueChange?.(waiting.length);
      // The slot passes straight to the next in line.
      next();
    } else {
      slots.running--;
    }
  }
}

export function hashPassword(password: string): Promise<string> {
  return withSlot(() => hash(password, ARGON2));
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return withSlot(async () => {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  });
}

let dummyHash: Promise<string> | undefined;
/** A real hash to verify against when the email is unknown, so both cases take as long. */
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword('not-a-real-account-password');
  return dummyHash;
}

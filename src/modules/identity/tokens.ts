import { createHash, createSecretKey, randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { IdGenerator } from '../../infra/ids.js';
import { PLANS, type Plan, ROLES, type Role } from '../../shared/actor.js';

export interface AccessClaims {
  sub: string;
  role: Role;
  plan: Plan;
  sid: string;
  jti: string;
  iat: number;
  /** Issue time in milliseconds: a change to the user's access refuses tokens issued before it. */
  iat_ms: number;
  exp: number;
}

/** 256 random bits, URL-safe: what refresh and reset tokens are. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Tokens are stored only as this hash. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const CACHE_LIMIT = 10_000;

/**
 * HS256 access tokens. Verification accepts only HS256 with our key (so `alg: none`, another
 * algorithm, a tampered payload or an expired token are refused) and remembers tokens it has
 * already verified, so a client reusing its token costs a map look-up, not an HMAC.
 */
export function createAccessTokens(deps: { secret: string; ttlSeconds: number; clock: Clock; ids: IdGenerator }) {
  const key = createSecretKey(Buffer.from(deps.secret, 'utf8'));
  const verified = new Map<string, AccessClaims>();

  return {
    ttlSeconds: deps.ttlSeconds,

    async sign(claims: { sub: string; role: Role; plan: Plan; sid: string }): Promise<string> {
      const nowMs = deps.clock.now().getTime();
      const now = Math.floor(nowMs / 1000);
      return new SignJWT({ role: claims.role, plan: claims.plan, sid: claims.sid, iat_ms: nowMs })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setJti(deps.ids())
        .setIssuedAt(now)
        .setExpirationTime(now + deps.ttlSeconds)
        .sign(key);
    },

    /** Claims of a token verified before and not yet expired, without any work; else undefined. */
    verifiedBefore(token: string): AccessClaims | undefined {
      const cached = verified.get(token);
      return cached && cached.exp > deps.clock.now().getTime() / 1000 ? cached : undefined;
    },

    /** The token's claims; throws 401 TOKEN_INVALID for anything else. */
    async verify(token: string): Promise<AccessClaims> {
      const nowSeconds = deps.clock.now().getTime() / 1000;
      const cached = verified.get(token);
      if (cached) {
        if (cached.exp <= nowSeconds) {
          verified.delete(token);
          throw new AppError('TOKEN_INVALID', 'Access token has expired');
        }
        return cached;
      }
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, key, { algorithms: ['HS256'], currentDate: deps.clock.now() }));
      } catch {
        throw new AppError('TOKEN_INVALID', 'Access token is invalid or expired');
      }
      const claims = payload as unknown as AccessClaims;
      if (
        typeof claims.sub !== 'string' ||
        typeof claims.sid !== 'string' ||
        typeof claims.exp !== 'number' ||
        typeof claims.iat_ms !== 'number' ||
        !ROLES.includes(claims.role) ||
        !PLANS.includes(claims.plan)
      ) {
        throw new AppError('TOKEN_INVALID', 'Access token is invalid or expired');
      }
      if (verified.size >= CACHE_LIMIT) verified.delete(verified.keys().next().value as string);
      verified.set(token, claims);
      return claims;
    },
  };
}

export type AccessTokens = ReturnType<typeof createAccessTokens>;

import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, ERROR_STATUS } from '../errors.js';
import type { AccessRule, GuardedRoute } from '../shared/access-rules.js';
import type { Actor, Role } from '../shared/actor.js';
import { errorCodesOf, errorResponse } from '../shared/http-schemas.js';
import { can } from '../shared/permissions.js';
import { routeConfigOf } from './route-config.js';

/** What the authentication hook reads from a verified access token. */
export interface AccessClaims {
  sub: string;
  role: Role;
  sid: string;
  /** Issue time in milliseconds: a change to the user's access refuses tokens issued before it. */
  iat_ms: number;
}

/** Checks access tokens (the identity module's signer provides it). */
export interface TokenVerifier {
  verify(token: string): Promise<AccessClaims>;
  /** The claims of a token this instance verified within the last moment, without checking again. */
  verifiedBefore(token: string): AccessClaims | undefined;
}

interface SessionView {
  revoked: boolean;
  validFrom: number;
}

/** Whether a session still stands and since when its user's tokens count (the shared store). */
export interface SessionStateReader {
  recent(sessionId: string, userId: string): SessionView | undefined;
  lookup(sessionId: string, userId: string): Promise<SessionView>;
}

/** The plan and flag checks a route rule may ask for (the access module provides them). */
export interface AccessChecks {
  requirePremium(actor: Actor): Promise<unknown>;
  isEnabled(feature: string, actor: Actor | undefined): Promise<boolean>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with an access rule, as registered (docs and the role-walk test read it). */
    guardedRoutes: GuardedRoute[];
  }
}

/**
 * Authentication: reads `Authorization: Bearer <access token>` on every request, checks the
 * signature and expiry, then that the session was not revoked and the token predates no
 * security change for its user (both from the shared store, no database read). Sets
 * `request.actor`. A bad token is only an error where a route needs a caller.
 */
export const authenticationPlugin = fp<{ tokens: TokenVerifier; sessionState: SessionStateReader }>(
  async (app: FastifyInstance, { tokens, sessionState }) => {
    const accept = (request: FastifyRequest, claims: AccessClaims, state: SessionView) => {
      if (state.revoked) {
        request.authError = new AppError('SESSION_REVOKED', 'This session has ended; sign in again');
      } else if (claims.iat_ms < state.validFrom) {
        request.authError = new AppError(
          'TOKEN_INVALID',
          'Your access changed since this token was issued; refresh it',
        );
      } else {
        request.actor = {
          id: claims.sub,
          role: claims.role,
          sessionId: claims.sid,
          ip: request.ip,
          correlationId: request.id,
          userAgent: request.headers['user-agent'] ?? null,
        };
      }
    };

    const slowPath = async (request: FastifyRequest, token: string) => {
      try {
        const claims = await tokens.verify(token);
        accept(request, claims, await sessionState.lookup(claims.sid, claims.sub));
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        request.authError = error;
      }
    };

    app.addHook('onRequest', (request, _reply, done) => {
      const header = request.headers.authorization;
      if (!header) return done();
      if (!header.startsWith('Bearer ')) {
        request.authError = new AppError('TOKEN_INVALID', 'Authorization must be "Bearer <access token>"');
        return done();
      }
      const token = header.slice(7).trim();
      // The common case, a token this instance checked within the last second: no await at all.
      const claims = tokens.verifiedBefore(token);
      const state = claims && sessionState.recent(claims.sid, claims.sub);
      if (claims && state) {
        accept(request, claims, state);
        return done();
      }
      slowPath(request, token).then(() => done(), done);
    });
  },
  { name: 'authentication' },
);

const documentedErrors = (rule: AccessRule) => {
  const codes: (keyof typeof ERROR_STATUS)[] = ['UNAUTHORIZED', 'TOKEN_INVALID', 'SESSION_REVOKED'];
  if (rule.roles || rule.permission) codes.push('FORBIDDEN');
  if (rule.premium) codes.push('PREMIUM_REQUIRED');
  if (rule.feature) codes.push('FEATURE_DISABLED');
  return codes;
};

/**
 * Authorisation from each route's `config.access`, before the body is parsed: 401 without a
 * valid caller, 403 FORBIDDEN by role or permission (the table in access/permissions.ts),
 * 403 PREMIUM_REQUIRED by plan, 404 FEATURE_DISABLED by flag. Also documents the bearer
 * scheme and those responses on every guarded route.
 */
export const accessGuardPlugin = fp<{ access: AccessChecks }>(
  async (app: FastifyInstance, { access }) => {
    const guarded: GuardedRoute[] = [];
    app.decorate('guardedRoutes', guarded);
    app.addHook('onRoute', (route: RouteOptions) => {
      const rule = route.config?.access;
      if (!rule) return;
      for (const method of [route.method].flat()) {
        if (method !== 'HEAD') guarded.push({ method, url: route.url, rule });
      }
      route.schema ??= {};
      const schema = route.schema as Record<string, unknown>;
      schema.security = [{ bearerAuth: [] }];
      schema.response ??= {};
      const response = schema.response as Record<string, unknown>;
      for (const code of documentedErrors(rule)) {
        const status = ERROR_STATUS[code];
        const current = response[status];
        const codes = errorCodesOf(current);
        // A route's own schema for the status (a teaser with extra fields) stays as it is.
        if (current === undefined || codes.length > 0) {
          if (!codes.includes(code)) response[status] = errorResponse([...codes, code]);
        }
      }
    });

    const check = async (rule: AccessRule, actor: Actor) => {
      if (rule.premium) await access.requirePremium(actor);
      if (rule.feature && !(await access.isEnabled(rule.feature, actor))) {
        throw new AppError('FEATURE_DISABLED', 'This feature is not available');
      }
    };

    // Callback style: a route without a rule (or with a role/permission rule) costs no promise.
    app.addHook('onRequest', (request, _reply, done) => {
      const rule = routeConfigOf(request).access;
      if (!rule) return done();
      const actor = request.actor;
      if (!actor) return done(request.authError ?? new AppError('UNAUTHORIZED', 'Sign in to continue'));
      if ((rule.roles && !rule.roles.includes(actor.role)) || (rule.permission && !can(actor.role, rule.permission))) {
        return done(new AppError('FORBIDDEN', 'You do not have access to this resource'));
      }
      if (!rule.premium && !rule.feature) return done();
      check(rule, actor).then(() => done(), done);
    });
  },
  { name: 'access-guard' },
);

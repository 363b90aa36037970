import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

export const ROLES = ['user', 'provider', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const PLANS = ['free', 'trial', 'premium'] as const;
export type Plan = (typeof PLANS)[number];

/** Where a call comes from: what services may know about the request, and nothing more. */
export interface CallContext {
  ip: string | null;
  correlationId: string | null;
  userAgent?: string | null;
}

/** A signed-in caller, as established by the access token. */
export interface Actor extends CallContext {
  id: string;
  role: Role;
  sessionId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in caller, when a valid access token came with the request. */
    actor?: Actor;
    /** Why a presented token was not accepted (reported only where a route needs a caller). */
    authError?: AppError;
  }
}

/** The caller of a route that requires one (its guard has run, so it is there). */
export function actorOf(request: FastifyRequest): Actor {
  if (!request.actor) throw new AppError('UNAUTHORIZED', 'Sign in to continue');
  return request.actor;
}

/** Where a call comes from, for services and the audit trail. */
export function contextOf(request: FastifyRequest): CallContext {
  return {
    ip: request.ip,
    correlationId: request.id,
    userAgent: request.headers['user-agent'] ?? null,
  };
}

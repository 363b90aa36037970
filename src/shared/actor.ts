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

import type { FastifyInstance } from 'fastify';
import type { Plan, Role } from '../../src/shared/actor.js';

let counter = 0;

export interface TestUser {
  id: string;
  email: string;
  password: string;
  role: Role;
  accessToken: string;
  refreshToken: string;
  /** `{ authorization: 'Bearer …' }` for app.inject. */
  headers: { authorization: string };
}

/**
 * Signs a new user up over HTTP (the real flow), then sets role and plan directly through the
 * identity service when asked, and signs in again so the token carries them.
 */
export async function createUser(
  app: FastifyInstance,
  options: { role?: Role; plan?: Plan; email?: string; password?: string; name?: string } = {},
): Promise<TestUser> {
  counter += 1;
  const email = options.email ?? `user${counter}.${Date.now()}@example.test`;
  const password = options.password ?? `Valid-passphrase-${counter}-xyz`;
  const signup = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/signup',
    payload: { email, password, ...(options.name ? { name: options.name } : {}) },
  });
  if (signup.statusCode !== 201) throw new Error(`signup failed: ${signup.statusCode} ${signup.body}`);
  const id = signup.json().data.user.id as string;
  if (options.role || options.plan) {
    const identity = app.platform.services.identity;
    await identity.adminUpdateUser({ id, role: 'admin', sessionId: 'test-setup', ip: null, correlationId: null }, id, {
      ...(options.role ? { role: options.role } : {}),
      ...(options.plan ? { plan: options.plan } : {}),
    });
    // Tokens issued before the change (to the millisecond) are refused; sign in after it.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.statusCode} ${login.body}`);
  const tokens = login.json().data;
  return {
    id,
    email,
    password,
    role: options.role ?? 'user',
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    headers: { authorization: `Bearer ${tokens.access_token}` },
  };
}

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { DemoLogin } from '../../src/infra/db/seed.js';
import type { Role as AccountRole, Actor } from '../../src/shared/actor.js';
import type { PoolOwners } from './pools.js';
import type { Role } from './roles.js';

interface Account {
  id: string;
  email: string;
  password: string;
  token: string;
}

// Housekeeping signs in from its own address: fuzzed logins from the default one may get
// that address blocked, which must not stop the role accounts from signing in again.
const HOUSEKEEPING_ADDRESS = '198.51.100.77';

/**
 * The demo user, provider and admin the fuzzer acts as, kept signed in whatever the fuzzed
 * requests do to them, plus throwaway accounts for routes that end their caller's session.
 */
export function createAccounts(app: FastifyInstance, logins: DemoLogin[]) {
  const accounts = new Map<AccountRole, Account>();
  const formerIds = new Set<string>();
  let throwawayAccount: Account | undefined;
  let created = 0;
  let renewals = 0;

  const housekeeping = (options: InjectOptions) => app.inject({ ...options, remoteAddress: HOUSEKEEPING_ADDRESS });

  async function signIn(email: string, password: string): Promise<{ token?: string; code?: string }> {
    const answer = await housekeeping({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
    const body = answer.json();
    return answer.statusCode === 200
      ? { token: body.data.access_token }
      : { code: body.code ?? String(answer.statusCode) };
  }

  async function idOf(token: string): Promise<string> {
    const answer = await housekeeping({
      method: 'GET',
      url: '/api/v1/me',
      headers: { authorization: `Bearer ${token}` },
    });
    if (answer.statusCode !== 200) throw new Error(`GET /api/v1/me for a fresh token: ${answer.statusCode}`);
    return answer.json().data.id;
  }

  const systemActor = (id: string): Actor => ({
    id,
    role: 'admin',
    sessionId: 'fuzz-housekeeping',
    ip: null,
    correlationId: null,
  });

  /** A new account through the real sign-up, given a role through the identity service. */
  async function createAccount(role: AccountRole | undefined, label: string): Promise<Account> {
    created += 1;
    const email = `fuzz.${label}.${created}.${randomBytes(4).toString('hex')}@example.test`;
    const password = `Fuzz-passphrase-${randomBytes(8).toString('hex')}`;
    const signup = await housekeeping({ method: 'POST', url: '/api/v1/auth/signup', payload: { email, password } });
    if (signup.statusCode !== 201) throw new Error(`fuzz sign-up failed: ${signup.statusCode} ${signup.body}`);
    const id: string = signup.json().data.user.id;
    if (role && role !== 'user') {
      await app.platform.services.identity.adminUpdateUser(systemActor(id), id, { role });
      // Tokens issued in the same millisecond as the change are refused.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const { token, code } = await signIn(email, password);
    if (!token) throw new Error(`fuzz account sign-in failed: ${code}`);
    return { id, email, password, token };
  }

  async function signInRole(role: AccountRole, login: DemoLogin): Promise<void> {
    const { token, code } = await signIn(login.email, login.password);
    if (!token) throw new Error(`demo ${role} sign-in failed: ${code}`);
    accounts.set(role, { id: await idOf(token), email: login.email, password: login.password, token });
  }

  return {
    async signInAll(): Promise<void> {
      for (const role of ['user', 'provider', 'admin'] as const) {
        const login = logins.find((candidate) => candidate.role === role);
        if (!login) throw new Error(`no demo login for ${role}`);
        await signInRole(role, login);
      }
    },

    token(role: Exclude<Role, 'anonymous'>): string {
      const account = role === 'throwaway' ? throwawayAccount : accounts.get(role);
      if (!account) throw new Error(`no account for ${role}`);
      return account.token;
    },

    /**
     * Signs a role account in again after its token stopped working. An account a fuzzed
     * request disabled is re-enabled; one that cannot sign in at all (erased, locked out) is
     * replaced by a new account with the same role.
     */
    async renew(role: AccountRole): Promise<void> {
      const account = accounts.get(role);
      if (!account) return;
      renewals += 1;
      let { token, code } = await signIn(account.email, account.password);
      if (!token && code === 'ACCOUNT_DISABLED') {
        await app.platform.services.identity.adminUpdateUser(systemActor(account.id), account.id, {
          is_active: true,
          role,
        });
        await new Promise((resolve) => setTimeout(resolve, 2));
        ({ token, code } = await signIn(account.email, account.password));
      }
      if (token) {
        accounts.set(role, { ...account, token });
        return;
      }
      formerIds.add(account.id);
      accounts.set(role, await createAccount(role, role));
    },

    /** The current throwaway account, or a new one when the last one's session has ended. */
    async throwaway(): Promise<void> {
      if (throwawayAccount) {
        const probe = await housekeeping({
          method: 'GET',
          url: '/api/v1/me/entitlements',
          headers: { authorization: `Bearer ${throwawayAccount.token}` },
        });
        if (probe.statusCode === 200) return;
      }
      throwawayAccount = await createAccount(undefined, 'throwaway');
    },

    /** Whose rows the per-account pools hold, and which users admin operations must not touch. */
    owners(): PoolOwners {
      const idOfRole = (role: AccountRole) => {
        const account = accounts.get(role);
        if (!account) throw new Error(`no account for ${role}`);
        return account.id;
      };
      return {
        userId: idOfRole('user'),
        providerUserId: idOfRole('provider'),
        protectedUserIds: [...accounts.values()].map((account) => account.id).concat([...formerIds]),
      };
    },

    stats: () => ({ renewals, accountsCreated: created }),
  };
}

export type Accounts = ReturnType<typeof createAccounts>;

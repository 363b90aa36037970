import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { requireAuth, requirePermission } from '../../shared/access-rules.js';
import { actorOf, contextOf } from '../../shared/actor.js';
import { errorResponses, IdParams, Success } from '../../shared/http-schemas.js';
import {
  AdminUpdateUserBody,
  AdminUsersQuery,
  ChangePasswordBody,
  LoginBody,
  Message,
  PublicUserSchema,
  RefreshBody,
  ResetConfirmBody,
  ResetRequestBody,
  SessionSchema,
  SignupBody,
  TokenPairSchema,
  UpdateMeBody,
} from './identity.schemas.js';
import type { IdentityService } from './identity.service.js';

/** Answers carrying tokens are never cached, by a browser or a proxy (RFC 6749 §5.1). */
const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

export const identityRoutes: FastifyPluginAsyncTypebox<{ identity: IdentityService }> = async (app, { identity }) => {
  const tags = ['auth'];

  app.post(
    '/auth/signup',
    {
      config: { rateLimit: 'sensitive' },
      schema: {
        operationId: 'auth.signup',
        description:
          'Creates a `user` account on the free plan and signs it in: answers 201 with the user and, as login does, `access_token`, `refresh_token`, `token_type` and `expires_in`. `tokens` holds the same pair and is deprecated (kept for one release, until 0.3.0). The password is checked for strength (400 WEAK_PASSWORD); an email already registered answers 409 EMAIL_TAKEN.',
        tags,
        summary: 'Create an account; answers with the user and a first pair of tokens',
        body: {
          ...SignupBody,
          examples: [{ email: 'ada@example.com', password: 'plum-Harbour-42-violet', name: 'Ada Lovelace' }],
        },
        response: {
          ...errorResponses('VALIDATION_ERROR', 'WEAK_PASSWORD', 'EMAIL_TAKEN', 'SERVICE_UNAVAILABLE'),
          201: Success(
            Type.Composite([
              TokenPairSchema,
              Type.Object({
                user: PublicUserSchema,
                tokens: Type.Object(TokenPairSchema.properties, {
                  deprecated: true,
                  description: 'the same tokens as the fields beside `user`; deprecated, removed in 0.3.0',
                }),
              }),
            ]),
          ),
        },
      },
    },
    async (request, reply) => {
      const { user, tokens } = await identity.signup(request.body, contextOf(request));
      // The tokens where login answers them; `tokens` too, for clients of 0.1 (deprecated).
      return noStore(reply)
        .code(201)
        .send({ success: true, data: { ...tokens, user, tokens } });
    },
  );

  app.post(
    '/auth/login',
    {
      config: { rateLimit: 'sensitive' },
      schema: {
        operationId: 'auth.login',
        description:
          'Answers an access token (`expires_in` seconds) and a refresh token for a new session. A wrong email or password answers 401 INVALID_CREDENTIALS, the same for both; repeated failures lock the account for a while (423 ACCOUNT_LOCKED); a deactivated account answers 403 ACCOUNT_DISABLED.',
        tags,
        summary: 'Exchange email and password for an access token and a refresh token',
        body: { ...LoginBody, examples: [{ email: 'ada@example.com', password: 'plum-Harbour-42-violet' }] },
        response: {
          ...errorResponses(
            'VALIDATION_ERROR',
            'INVALID_CREDENTIALS',
            'ACCOUNT_DISABLED',
            'IP_BLOCKED',
            'ACCOUNT_LOCKED',
            'SERVICE_UNAVAILABLE',
          ),
          200: Success(TokenPairSchema),
        },
      },
    },
    async (request, reply) =>
      noStore(reply).send({ success: true, data: await identity.login(request.body, contextOf(request)) }),
  );

  app.post(
    '/auth/refresh',
    {
      schema: {
        operationId: 'auth.refresh',
        description:
          'Send the refresh token of a session: answers a new access token and a new refresh token, and the old refresh token stops working. Presenting a refresh token that was already rotated ends the whole session (401 REFRESH_TOKEN_REUSED): someone may have copied it.',
        tags,
        summary: 'Rotate a refresh token (the old one dies; reuse ends the session)',
        body: RefreshBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'REFRESH_TOKEN_INVALID', 'REFRESH_TOKEN_REUSED'),
          200: Success(TokenPairSchema),
        },
      },
    },
    async (request, reply) =>
      noStore(reply).send({
        success: true,
        data: await identity.refresh(request.body.refresh_token, contextOf(request)),
      }),
  );

  app.post(
    '/auth/logout',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'auth.logout',
        description:
          'Revokes the session of the access token sent: its refresh token stops working and its access token is refused from now on.',
        tags,
        summary: 'End this session',
        response: { ...errorResponses(), 200: Success(Message) },
      },
    },
    async (request) => {
      await identity.logout(actorOf(request));
      return { success: true, data: { message: 'Signed out' } };
    },
  );

  app.post(
    '/auth/logout-all',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'auth.logoutAll',
        description:
          'Revokes every session of your account, this one included; answers how many were ended. Use it after a lost device.',
        tags,
        summary: 'End every session of this account',
        response: { ...errorResponses(), 200: Success(Type.Object({ sessions_ended: Type.Integer() })) },
      },
    },
    async (request) => ({ success: true, data: { sessions_ended: await identity.logoutAll(actorOf(request)) } }),
  );

  app.get(
    '/auth/sessions',
    {
      config: { access: requireAuth(), etag: false },
      schema: {
        operationId: 'auth.listSessions',
        description:
          'One entry per signed-in device or browser: its user agent, address, when it started and was last used, when it expires, and `current` for the session making this call.',
        tags,
        summary: 'Active sessions of this account (device, IP, created, last used)',
        response: { ...errorResponses(), 200: Success(Type.Array(SessionSchema)) },
      },
    },
    async (request) => ({ success: true, data: await identity.listSessions(actorOf(request)) }),
  );

  app.delete(
    '/auth/sessions/:id',
    {
      config: { access: requireAuth() },
      schema: {
        operationId: 'auth.revokeSession',
        description:
          "Ends one session by its id (from GET /auth/sessions); its refresh token stops working at once. Another person's session id answers 404.",
        tags,
        summary: 'End one of your sessions',
        params: IdParams,
        response: { ...errorResponses('NOT_FOUND', 'VALIDATION_ERROR'), 200: Success(Message) },
      },
    },
    async (request) => {
      await identity.revokeSession(actorOf(request), request.params.id);
      return { success: true, data: { message: 'Session ended' } };
    },
  );

  app.post(
    '/auth/password',
    {
      config: { access: requireAuth(), rateLimit: 'sensitive' },
      schema: {
        operationId: 'auth.changePassword',
        description:
          'Needs your current password (401 INVALID_CREDENTIALS otherwise) and a strong new one (400 WEAK_PASSWORD). Every other session of your account ends; this one stays signed in.',
        tags,
        summary: 'Change your password (current one required); ends your other sessions',
        body: ChangePasswordBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'WEAK_PASSWORD', 'INVALID_CREDENTIALS'),
          200: Success(Message),
        },
      },
    },
    async (request) => {
      await identity.changePassword(actorOf(request), request.body);
      return { success: true, data: { message: 'Password changed; other sessions were ended' } };
    },
  );

  app.post(
    '/auth/password-reset/request',
    {
      config: { rateLimit: 'sensitive' },
      schema: {
        operationId: 'auth.requestPasswordReset',
        description:
          'Always answers 202 with the same message, so the answer never tells whether an account exists; when it does, a single-use link with a reset token is emailed to it.',
        tags,
        summary: 'Email a single-use reset link (same answer whether or not the email exists)',
        body: ResetRequestBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 202: Success(Message) },
      },
    },
    async (request, reply) => {
      await identity.requestPasswordReset(request.body.email, contextOf(request));
      return reply.code(202).send({
        success: true,
        data: { message: 'If an account exists for this email, a reset link is on its way' },
      });
    },
  );

  app.post(
    '/auth/password-reset/confirm',
    {
      config: { rateLimit: 'sensitive' },
      schema: {
        operationId: 'auth.confirmPasswordReset',
        description:
          'Send the token from the reset email and a new password. The token works once and expires (400 INVALID_RESET_TOKEN); every session of the account ends, so sign in again.',
        tags,
        summary: 'Set a new password with a reset token; ends every session',
        body: ResetConfirmBody,
        response: {
          ...errorResponses('VALIDATION_ERROR', 'WEAK_PASSWORD', 'INVALID_RESET_TOKEN'),
          200: Success(Message),
        },
      },
    },
    async (request) => {
      await identity.confirmPasswordReset(request.body, contextOf(request));
      return { success: true, data: { message: 'Password reset; sign in with the new password' } };
    },
  );

  app.get(
    '/me',
    {
      config: { access: requirePermission('profile:read') },
      schema: {
        operationId: 'users.getMe',
        description: 'Your account as stored: email, name, phone, locale, time zone, role, plan and trial end.',
        tags: ['users'],
        summary: 'Your account',
        response: { ...errorResponses(), 200: Success(PublicUserSchema) },
      },
    },
    async (request) => ({ success: true, data: await identity.getMe(actorOf(request)) }),
  );

  app.patch(
    '/me',
    {
      config: { access: requirePermission('profile:update') },
      schema: {
        operationId: 'users.updateMe',
        description:
          'Changes only the fields sent; role, plan and email cannot be changed here (unknown fields answer 400). Answers the updated account.',
        tags: ['users'],
        summary: 'Update name, phone, locale or time zone (nothing else can be set here)',
        body: UpdateMeBody,
        response: { ...errorResponses('VALIDATION_ERROR'), 200: Success(PublicUserSchema) },
      },
    },
    async (request) => ({ success: true, data: await identity.updateMe(actorOf(request), request.body) }),
  );

  app.get(
    '/admin/users',
    {
      config: { access: requirePermission('users:manage'), etag: false },
      schema: {
        operationId: 'admin.listUsers',
        description:
          'Accounts matching every filter given (email prefix, role, plan, active), newest first, a page at a time (`meta.next_cursor`).',
        tags: ['admin'],
        summary: 'Find users by email prefix, role, plan and active state (cursor pagination)',
        querystring: AdminUsersQuery,
        response: {
          ...errorResponses('VALIDATION_ERROR'),
          200: Success(
            Type.Array(PublicUserSchema),
            Type.Object({ next_cursor: Type.Union([Type.String(), Type.Null()]) }),
          ),
        },
      },
    },
    async (request) => {
      const { email, role, plan, active, limit, cursor } = request.query;
      const page = await identity.adminListUsers(actorOf(request), {
        emailPrefix: email,
        role,
        plan,
        active,
        afterId: cursor,
        limit,
      });
      return { success: true, data: page.users, meta: { next_cursor: page.nextCursor ?? null } };
    },
  );

  app.get(
    '/admin/users/:id',
    {
      config: { access: requirePermission('users:manage'), etag: false },
      schema: {
        operationId: 'admin.getUser',
        description: 'One account by id, as the person sees it. Reading it is recorded in the audit trail.',
        tags: ['admin'],
        summary: "One user's account (audited)",
        params: IdParams,
        response: { ...errorResponses('NOT_FOUND', 'VALIDATION_ERROR'), 200: Success(PublicUserSchema) },
      },
    },
    async (request) => ({ success: true, data: await identity.adminGetUser(actorOf(request), request.params.id) }),
  );

  app.patch(
    '/admin/users/:id',
    {
      config: { access: requirePermission('users:manage') },
      schema: {
        operationId: 'admin.updateUser',
        description:
          "Sets a person's role, plan or active state (audited). Deactivating ends all their sessions at once and refuses their tokens from then on; a role or plan change makes them refresh their token. An admin cannot remove their own admin role or deactivate themselves (409 INVALID_STATE): another admin must.",
        tags: ['admin'],
        summary: "Change a user's role, plan or active state (deactivation ends their sessions at once)",
        params: IdParams,
        body: AdminUpdateUserBody,
        response: {
          ...errorResponses('NOT_FOUND', 'VALIDATION_ERROR', 'INVALID_STATE'),
          200: Success(PublicUserSchema),
        },
      },
    },
    async (request) => ({
      success: true,
      data: await identity.adminUpdateUser(actorOf(request), request.params.id, request.body),
    }),
  );
};

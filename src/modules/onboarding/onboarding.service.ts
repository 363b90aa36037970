import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import { AppError, invalidField, notFound } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { Actor, CallContext } from '../../shared/actor.js';
import { type AuditService, auditContextOf } from '../audit/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { IdentityService } from '../identity/index.js';
import type { MediaService } from '../media/index.js';
import type { Notify } from '../notifications/index.js';
import { type ApplicationStatus, type ProviderApplicationRow, providerApplications } from './onboarding.tables.js';

export interface ApplicationInput {
  business_name: string;
  bio: string;
  city: string;
  country: string;
  languages: string[];
  category_ids: string[];
  document_media_ids?: string[];
}

export interface PublicApplication {
  id: string;
  user_id: string;
  status: ApplicationStatus;
  business_name: string;
  bio: string;
  city: string;
  country: string;
  languages: string[];
  category_ids: string[];
  document_media_ids: string[];
  reason: string | null;
  reviewed_at: string | null;
  created_at: string;
}

export function toPublicApplication(row: ProviderApplicationRow): PublicApplication {
  return {
    id: row.id,
    user_id: row.userId,
    status: row.status,
    business_name: row.businessName,
    bio: row.bio,
    city: row.city,
    country: row.country,
    languages: row.languages,
    category_ids: row.categoryIds,
    document_media_ids: row.documentMediaIds,
    reason: row.reason,
    reviewed_at: row.reviewedAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
  };
}

/**
 * Becoming a provider: a person applies (business details, categories, documents uploaded as
 * media), admins are told; an admin approves (the account becomes a `provider` with a verified
 * profile made from the application) or rejects with a reason; the applicant is told either way.
 * Each decision is audited. Approval is several steps in the identity and catalog modules, each
 * idempotent, and the application is marked decided last (only while still pending), so an
 * approval that stopped half-way is finished by approving again, and two admins deciding at once
 * cannot both win.
 */
export function createOnboardingService(deps: {
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  audit: Pick<AuditService, 'record'>;
  identity: Pick<IdentityService, 'getAccount' | 'adminUpdateUser'>;
  /** The active admins, who review applications. */
  adminIds: (db: Db) => Promise<string[]>;
  catalog: Pick<CatalogService, 'listCategories' | 'updateOwnProfile' | 'setVerification' | 'providerOfUser'>;
  media: Pick<MediaService, 'ownedBy'>;
  notify: Notify;
}) {
  const { db, clock } = deps;

  const find = async (tx: Db, id: string, forUpdate = false) => {
    const query = tx.select().from(providerApplications).where(eq(providerApplications.id, id)).limit(1);
    const [row] = forUpdate ? await query.for('update') : await query;
    return row;
  };

  /** Marks a pending application decided; undefined when someone else decided it first. */
  const decide = async (
    tx: Db,
    id: string,
    actor: Actor,
    status: Exclude<ApplicationStatus, 'pending'>,
    reason: string | null,
  ) => {
    const now = clock.now();
    const [row] = await tx
      .update(providerApplications)
      .set({ status, reason, reviewedBy: actor.id, reviewedAt: now, updatedAt: now })
      .where(and(eq(providerApplications.id, id), eq(providerApplications.status, 'pending')))
      .returning();
    return row;
  };

  const tellApplicant = (tx: Db, row: ProviderApplicationRow) =>
    deps.notify.send(tx, {
      userId: row.userId,
      purpose: 'account',
      template: 'provider_application_decided',
      data: {
        business_name: row.businessName,
        decision: row.status,
        ...(row.reason ? { reason: row.reason } : {}),
      },
    });

  return {
    async apply(actor: Actor, input: ApplicationInput, context: CallContext): Promise<PublicApplication> {
      if (actor.role !== 'user') {
        throw new AppError('INVALID_STATE', `Your account is already a ${actor.role} account`);
      }
      const categories = new Set((await deps.catalog.listCategories()).map((category) => category.id));
      const unknown = input.category_ids.filter((id) => !categories.has(id));
      if (unknown.length > 0) throw invalidField('body.category_ids', `has unknown categories: ${unknown.join(', ')}`);
      const documents = [...new Set(input.document_media_ids ?? [])];
      const owned = await deps.media.ownedBy(actor.id, documents);
      const foreign = documents.filter((id) => !owned.has(id));
      if (foreign.length > 0) {
        throw invalidField(
          'body.document_media_ids',
          `are not uploads of yours (POST /api/v1/media): ${foreign.join(', ')}`,
        );
      }
      const now = clock.now();
      const row = await inTransaction(db, async (tx) => {
        const [created] = await tx
          .insert(providerApplications)
          .values({
            id: deps.ids(),
            userId: actor.id,
            businessName: input.business_name,
            bio: input.bio,
            city: input.city,
            country: input.country,
            languages: [...new Set(input.languages)],
            categoryIds: [...new Set(input.category_ids)],
            documentMediaIds: documents,
            status: 'pending',
            createdAt: now,
            updatedAt: now,
          })
          .onConflictDoNothing()
          .returning();
        if (!created) throw new AppError('INVALID_STATE', 'You already have an application waiting for review');
        await deps.audit.record(tx, auditContextOf({ ...context, id: actor.id }), {
          action: 'onboarding.application_submitted',
          targetType: 'provider_application',
          targetId: created.id,
        });
        for (const adminId of await deps.adminIds(tx)) {
          await deps.notify.send(tx, {
            userId: adminId,
            purpose: 'account',
            template: 'provider_application_received',
            data: { business_name: created.businessName, city: created.city, country: created.country },
          });
        }
        return created;
      });
      return toPublicApplication(row);
    },

    /** The caller's latest application. */
    async mine(actor: Actor): Promise<PublicApplication> {
      const [row] = await db
        .select()
        .from(providerApplications)
        .where(eq(providerApplications.userId, actor.id))
        .orderBy(desc(providerApplications.id))
        .limit(1);
      if (!row) throw notFound('Application');
      return toPublicApplication(row);
    },

    /** The review queue: oldest first for `pending` (first come, first served), else newest first. */
    async list(filters: { status?: ApplicationStatus; cursor?: string; limit: number }) {
      const conditions: SQL[] = [];
      if (filters.status) conditions.push(eq(providerApplications.status, filters.status));
      if (filters.cursor) conditions.push(lt(providerApplications.id, filters.cursor));
      const rows = await db
        .select()
        .from(providerApplications)
        .where(conditions.length > 0 ? and(...conditions) : undefined)
        .orderBy(desc(providerApplications.id))
        .limit(filters.limit + 1);
      const shown = rows.slice(0, filters.limit);
      return {
        items: shown.map(toPublicApplication),
        nextCursor: rows.length > filters.limit ? (shown.at(-1)?.id ?? null) : null,
      };
    },

    /**
     * The decision is taken first, with the application locked (a concurrent rejection waits and
     * then finds it decided), and the applicant's message is queued with it. The account then
     * becomes a verified provider in steps that are each idempotent: approving an approved
     * application whose steps did not all finish completes them (and tells no one twice).
     */
    async approve(actor: Actor, id: string, context: CallContext): Promise<PublicApplication> {
      const claimed = await inTransaction(db, async (tx) => {
        const current = await find(tx, id, true);
        if (!current) throw notFound('Application');
        if (current.status === 'rejected') throw new AppError('INVALID_STATE', 'This application is already rejected');
        if (current.status === 'approved') return { row: current, fresh: false };
        const row = (await decide(tx, id, actor, 'approved', null)) as ProviderApplicationRow;
        await deps.audit.record(tx, auditContextOf({ ...context, id: actor.id }), {
          action: 'onboarding.application_approved',
          targetType: 'provider_application',
          targetId: id,
          details: { user_id: row.userId },
        });
        await tellApplicant(tx, row);
        return { row, fresh: true };
      });
      const { row } = claimed;
      const applicant = await deps.identity.getAccount(row.userId);
      if (!applicant) throw notFound('Applicant');
      const before = await deps.catalog.providerOfUser(row.userId);
      if (!claimed.fresh && applicant.role === 'provider' && before?.verification === 'verified') {
        throw new AppError('INVALID_STATE', 'This application is already approved');
      }
      // The account becomes a provider (audited by identity)…
      if (applicant.role === 'user') await deps.identity.adminUpdateUser(actor, row.userId, { role: 'provider' });
      // …with a profile made from the application…
      const asApplicant: Actor = { ...actor, id: row.userId, role: 'provider' };
      const profile = await deps.catalog.updateOwnProfile(asApplicant, {
        display_name: row.businessName,
        bio: row.bio,
        city: row.city,
        country: row.country,
        languages: row.languages,
      });
      // …verified (audited by the catalog).
      if (profile.verification !== 'verified') {
        await deps.catalog.setVerification(actor, profile.id, { verification: 'verified' });
      }
      return toPublicApplication(row);
    },

    async reject(actor: Actor, id: string, reason: string, context: CallContext): Promise<PublicApplication> {
      if (!reason.trim()) throw invalidField('body.reason', 'is required: the applicant is told why');
      const decided = await inTransaction(db, async (tx) => {
        const current = await find(tx, id, true);
        if (!current) throw notFound('Application');
        const row = await decide(tx, id, actor, 'rejected', reason.trim());
        if (!row) throw new AppError('INVALID_STATE', `This application is already ${current.status}`);
        await deps.audit.record(tx, auditContextOf({ ...context, id: actor.id }), {
          action: 'onboarding.application_rejected',
          targetType: 'provider_application',
          targetId: id,
          details: { user_id: row.userId, reason: row.reason },
        });
        await tellApplicant(tx, row);
        return row;
      });
      return toPublicApplication(decided);
    },

    async exportFor(tx: Db, userId: string): Promise<PublicApplication[]> {
      const rows = await tx.select().from(providerApplications).where(eq(providerApplications.userId, userId));
      return rows.map(toPublicApplication);
    },

    async eraseFor(tx: Db, userId: string): Promise<number> {
      const rows = await tx
        .delete(providerApplications)
        .where(eq(providerApplications.userId, userId))
        .returning({ id: providerApplications.id });
      return rows.length;
    },
  };
}

export type OnboardingService = ReturnType<typeof createOnboardingService>;

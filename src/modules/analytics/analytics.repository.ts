import { createHmac, randomBytes } from 'node:crypto';
import { and, desc, eq, gte, lt, or, sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';
import { analyticsSubjectKeys, type EventSource, productEvents } from './analytics.tables.js';

export interface EventRow {
  id: string;
  name: string;
  occurredAt: Date;
  subject: string | null;
  source: EventSource;
  plan: string | null;
  country: string | null;
  properties: Record<string, unknown>;
}

/** Where an event about her is filed: her pseudonym (null = not linkable) and plan and country. */
export interface SubjectContext {
  subject: string | null;
  plan: string | null;
  country: string | null;
}

/**
 * Her pseudonym: HMAC-SHA256(user id) under her own secret, the first 128 bits written as a
 * UUID (version 8, "custom"). Without the secret nobody can tell whose it is.
 */
export function subjectId(secret: string, userId: string): string {
  const digest = createHmac('sha256', Buffer.from(secret, 'base64')).update(userId).digest();
  digest[6] = ((digest[6] as number) & 0x0f) | 0x80;
  digest[8] = ((digest[8] as number) & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const newSecret = () => randomBytes(32).toString('base64');

export function createAnalyticsRepository() {
  return {
    /**
     * Her subject, plan and country for an event. The first event about her makes her secret;
     * once forgotten (objection or erasure) events about her carry no subject.
     */
    async subjectContext(tx: Db, userId: string, now: Date): Promise<SubjectContext | undefined> {
      const [row] = await queryRows<{
        plan: string;
        country: string | null;
        secret: string | null;
        forgotten: boolean;
      }>(
        tx,
        sql`select u.plan, p.country, k.secret, k.forgotten_at is not null as forgotten
            from users u
            left join wellness_profiles p on p.user_id = u.id
            left join analytics_subject_keys k on k.user_id = u.id
            where u.id = ${userId}`,
      );
      if (!row) return undefined;
      let secret = row.secret;
      if (secret === null && !row.forgotten) {
        const [created] = await tx
          .insert(analyticsSubjectKeys)
          .values({ userId, secret: newSecret(), createdAt: now })
          .onConflictDoNothing()
          .returning({ secret: analyticsSubjectKeys.secret });
        // Another transaction made it first: read theirs.
        secret =
          created?.secret ??
          (
            await tx
              .select({ secret: analyticsSubjectKeys.secret })
              .from(analyticsSubjectKeys)
              .where(eq(analyticsSubjectKeys.userId, userId))
          )[0]?.secret ??
          null;
      }
      return { subject: secret ? subjectId(secret, userId) : null, plan: row.plan, country: row.country };
    },

    /** Her subject if she has a live secret (no secret is made). */
    async currentSubject(db: Db, userId: string): Promise<string | null> {
      const [row] = await db
        .select({ secret: analyticsSubjectKeys.secret })
        .from(analyticsSubjectKeys)
        .where(eq(analyticsSubjectKeys.userId, userId));
      return row?.secret ? subjectId(row.secret, userId) : null;
    },

    /** Destroys her secret: her past events can no longer be tied to her. True if there was one. */
    async forget(tx: Db, userId: string, now: Date): Promise<boolean> {
      const [before] = await tx
        .select({ secret: analyticsSubjectKeys.secret })
        .from(analyticsSubjectKeys)
        .where(eq(analyticsSubjectKeys.userId, userId))
        .for('update');
      await tx
        .insert(analyticsSubjectKeys)
        .values({ userId, secret: null, createdAt: now, forgottenAt: now })
        .onConflictDoUpdate({ target: analyticsSubjectKeys.userId, set: { secret: null, forgottenAt: now } });
      return Boolean(before?.secret);
    },

    /** She opted in (again): a new secret, so a new pseudonym unrelated to any earlier one. */
    async renew(tx: Db, userId: string, now: Date): Promise<void> {
      await tx
        .insert(analyticsSubjectKeys)
        .values({ userId, secret: newSecret(), createdAt: now })
        .onConflictDoUpdate({
          target: analyticsSubjectKeys.userId,
          set: { secret: newSecret(), createdAt: now, forgottenAt: null },
          setWhere: sql`${analyticsSubjectKeys.secret} is null`,
        });
    },

    /** One statement for the whole batch: the rows travel as one JSON document. */
    async insertEvents(db: Db, rows: EventRow[]): Promise<void> {
      if (rows.length === 0) return;
      const json = JSON.stringify(
        rows.map((row) => ({
          id: row.id,
          name: row.name,
          occurred_at: row.occurredAt.toISOString(),
          subject: row.subject,
          source: row.source,
          plan: row.plan,
          country: row.country,
          properties: row.properties,
        })),
      );
      await db.execute(sql`
        insert into product_events (id, name, occurred_at, subject, source, plan, country, properties)
        select id, name, occurred_at, subject, source, plan, country, properties
        from jsonb_to_recordset(${json}::jsonb) as x(
          id uuid, name text, occurred_at timestamptz, subject uuid, source text, plan text, country text, properties jsonb
        )`);
    },

    async eventsOfSubject(db: Db, subject: string) {
      return db
        .select({
          name: productEvents.name,
          properties: productEvents.properties,
          occurredAt: productEvents.occurredAt,
        })
        .from(productEvents)
        .where(eq(productEvents.subject, subject))
        .orderBy(productEvents.occurredAt, productEvents.id);
    },

    /** The newest events first, as stored; the cursor is the last row's (occurred_at, id). */
    async latest(
      db: Db,
      filter: { name?: string; from: Date; to: Date; before?: { at: Date; id: string }; limit: number },
    ): Promise<EventRow[]> {
      const conditions = [gte(productEvents.occurredAt, filter.from), lt(productEvents.occurredAt, filter.to)];
      if (filter.name) conditions.push(eq(productEvents.name, filter.name));
      if (filter.before) {
        conditions.push(
          or(
            lt(productEvents.occurredAt, filter.before.at),
            and(eq(productEvents.occurredAt, filter.before.at), lt(productEvents.id, filter.before.id)),
          ) as ReturnType<typeof eq>,
        );
      }
      return (await db
        .select()
        .from(productEvents)
        .where(and(...conditions))
        .orderBy(desc(productEvents.occurredAt), desc(productEvents.id))
        .limit(filter.limit)) as EventRow[];
    },
  };
}

export type AnalyticsRepository = ReturnType<typeof createAnalyticsRepository>;

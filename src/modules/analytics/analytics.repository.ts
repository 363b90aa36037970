import { createHmac, randomBytes } from 'node:crypto';
import { and, desc, eq, gte, lt, or, type SQL, sql } from 'drizzle-orm';
import { type Db, queryRows } from '../../infra/db/client.js';
import { factsDelta, upsertFacts } from './analytics.facts.js';
import { analyticsSubjectKeys, type EventSource, productEvents } from './analytics.tables.js';

export interface EventRow {
  id: string;
  name: string;
  occurredAt: Date;
  subject: string | null;
  cohortAt: Date | null;
  source: EventSource;
  plan: string | null;
  country: string | null;
  properties: Record<string, unknown>;
}

/** One event of a batch: what is not shared by the batch. */
export interface BatchEvent {
  name: string;
  occurredAt: Date;
  properties: Record<string, unknown>;
  /**
   * An anonymous event's de-duplication key and its UTC day: the event is stored only if the
   * key is not in `analytics_anonymous_seen` yet (and the key is put there in the same statement).
   * Keys are unique within a batch: the caller drops the batch's own repeats.
   */
  dedupe?: { day: string; key: string };
}

/** Where an event about a person is filed: the pseudonym (null = not linkable), plan and country. */
export interface SubjectContext {
  subject: string | null;
  /** When the pseudonym began (the secret's creation). */
  cohortAt: Date | null;
  plan: string | null;
  country: string | null;
}

/**
 * A person's pseudonym: HMAC-SHA256(user id) under the person's own secret, the first 128 bits written as a
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
     * The person's subject, plan and country for an event. The first event about the person
     * makes the secret; once forgotten (objection or erasure) events about the person carry no
     * subject.
     */
    async subjectContext(
      tx: Db,
      userId: string,
      now: Date,
      of: {
        /** The person's plan and country (the identity and profiles modules' expressions on the id). */
        plan: (userId: SQL) => SQL<string | null>;
        country: (userId: SQL) => SQL<string | null>;
        /** When given, a condition on the person's id: unless it holds nothing is made. */
        consent?: (userId: SQL) => SQL;
      },
    ): Promise<(SubjectContext & { consented: boolean }) | undefined> {
      const id = sql`u.id`;
      const [row] = await queryRows<{
        consented: boolean;
        plan: string | null;
        country: string | null;
        secret: string | null;
        since: Date | string | null;
        forgotten: boolean;
      }>(
        tx,
        sql`select ${of.consent ? of.consent(id) : sql`true`} as consented, ${of.plan(id)} as plan,
              ${of.country(id)} as country, k.secret, k.created_at as since, k.forgotten_at is not null as forgotten
            from (select ${userId}::uuid as id) u
            left join analytics_subject_keys k on k.user_id = u.id`,
      );
      // Every account has a plan: none means no such account.
      if (!row?.plan) return undefined;
      // Asked with a consent condition that does not hold: nothing is made for the person.
      if (!row.consented)
        return { consented: false, subject: null, cohortAt: null, plan: row.plan, country: row.country };
      let key: { secret: string | null; createdAt: Date | null } = {
        secret: row.secret,
        createdAt: row.since === null ? null : new Date(row.since),
      };
      if (key.secret === null && !row.forgotten) {
        const columns = { secret: analyticsSubjectKeys.secret, createdAt: analyticsSubjectKeys.createdAt };
        const [created] = await tx
          .insert(analyticsSubjectKeys)
          .values({ userId, secret: newSecret(), createdAt: now })
          .onConflictDoNothing()
          .returning(columns);
        // Another transaction made it first: read theirs.
        key = created ??
          (await tx.select(columns).from(analyticsSubjectKeys).where(eq(analyticsSubjectKeys.userId, userId)))[0] ?? {
            secret: null,
            createdAt: null,
          };
      }
      return {
        consented: true,
        subject: key.secret ? subjectId(key.secret, userId) : null,
        cohortAt: key.secret ? key.createdAt : null,
        plan: row.plan,
        country: row.country,
      };
    },

    /** The person's subject while the secret lives (no secret is made). */
    async currentSubject(db: Db, userId: string): Promise<string | null> {
      const [row] = await db
        .select({ secret: analyticsSubjectKeys.secret })
        .from(analyticsSubjectKeys)
        .where(eq(analyticsSubjectKeys.userId, userId));
      return row?.secret ? subjectId(row.secret, userId) : null;
    },

    /** Destroys the person's secret: past events can no longer be tied to the person. True if there was one. */
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

    /** The person opted in (again): a new secret, so a new pseudonym unrelated to any earlier one. */
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

    /**
     * One statement for a batch of events about one subject (or none): what they share goes
     * once as parameters, the rows as one JSON document (built as text, no object per row).
     * Events with a `dedupe` key (anonymous ones, never with a subject) are stored only when the
     * key is new. Resolves with the number of events stored.
     */
    async insertBatch(
      db: Db,
      shared: {
        subject: string | null;
        cohortAt: Date | null;
        source: EventSource;
        plan: string | null;
        country: string | null;
        now: Date;
        /** A fresh UUIDv7 from the app: the batch's ids are it with the row's ordinal in its last 16 bits. */
        batchId: string;
      },
      events: BatchEvent[],
    ): Promise<number> {
      if (events.length === 0) return 0;
      if (events.length > 0xffff) throw new Error('a batch holds at most 65,535 events');
      const deduplicated = events.some((event) => event.dedupe);
      // The subject's facts below are computed from all the events: none may be skipped.
      if (deduplicated && shared.subject) throw new Error('only anonymous events are de-duplicated');
      // Compact rows: the name as an index into the batch's names, the time as milliseconds
      // after the batch's earliest, no id (made from the batch's). Less to build, send and parse.
      let base = Number.POSITIVE_INFINITY;
      for (const event of events) base = Math.min(base, event.occurredAt.getTime());
      const names: string[] = [];
      const nameIndex = new Map<string, number>();
      const parts: string[] = [];
      for (const event of events) {
        let n = nameIndex.get(event.name);
        if (n === undefined) {
          n = names.push(event.name) - 1;
          nameIndex.set(event.name, n);
        }
        // Numbers and the hex key need no escaping; properties go through JSON.stringify.
        const dedupe = event.dedupe ? `,"d":"${event.dedupe.day}","k":"${event.dedupe.key}"` : '';
        parts.push(
          `{"n":${n},"t":${event.occurredAt.getTime() - base},"p":${JSON.stringify(event.properties)}${dedupe}}`,
        );
      }
      const batch = sql`rows from (jsonb_to_recordset(${`[${parts.join(',')}]`}::jsonb)
          as (n int, t bigint, p jsonb, d date, k text)) with ordinality as x(n, t, p, d, k, ord)`;
      const insert = (
        from: SQL,
      ) => sql`insert into product_events (id, name, occurred_at, subject, cohort_at, source, plan, country, properties)
        select (${shared.batchId.replaceAll('-', '').slice(0, 28)} || lpad(to_hex(x.ord), 4, '0'))::uuid,
          ${JSON.stringify(names)}::jsonb ->> x.n,
          ${new Date(base).toISOString()}::timestamptz + x.t * interval '1 millisecond',
          ${shared.subject}::uuid, ${shared.cohortAt?.toISOString() ?? null}::timestamptz,
          ${shared.source}, ${shared.plan}, ${shared.country}, x.p
        ${from}`;
      if (deduplicated) {
        // Claim the keys first: only the rows whose key this statement claimed are stored, so a
        // repeat (in this batch, an earlier one, or a concurrent one) is never stored twice.
        const [row] = await queryRows<{ stored: number }>(
          db,
          sql`with x as (select * from ${batch}),
            claimed as (
              insert into analytics_anonymous_seen (day, key)
              select distinct x.d, x.k from x where x.k is not null
              on conflict do nothing
              returning key
            ),
            inserted as (
              ${insert(sql`from x where x.k is null or x.k in (select key from claimed)`)}
              returning 1
            )
          select count(*)::int as stored from inserted`,
        );
        return row?.stored ?? 0;
      }
      if (!shared.subject || !shared.cohortAt) {
        await db.execute(insert(sql`from ${batch}`));
        return events.length;
      }
      // The subject's facts move in the same statement as its events: both or neither.
      const facts = upsertFacts(
        shared.subject,
        { cohortAt: shared.cohortAt, plan: shared.plan, country: shared.country },
        factsDelta(shared.cohortAt, events),
        shared.now,
      );
      await db.execute(sql`with inserted as (${insert(sql`from ${batch}`)}) ${facts}`);
      return events.length;
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

import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * One detected attack or abuse signal per row, append-only (a trigger, migration
 * 0024_security_events_append_only, refuses any UPDATE except detaching an erased person's id,
 * and TRUNCATE). `sample` is the offending value cut to 200 characters with secrets, emails
 * and long digit runs masked. Rows older than SECURITY_EVENT_RETENTION_DAYS are deleted.
 */
export const securityEvents = pgTable(
  'security_events',
  {
    id: uuid('id').primaryKey(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    type: text('type').notNull(),
    severity: text('severity').notNull(),
    rule: text('rule').notNull(),
    /** Where in the request: `path`, `query.q`, `body.text`, `header.user-agent`, or `login`. */
    location: text('location').notNull(),
    sample: text('sample'),
    /** What was done: `refused`, `scored` (free text, let through), `recorded` (monitor mode, allow-listed), `blocked`. */
    action: text('action').notNull(),
    points: integer('points').notNull(),
    ip: text('ip'),
    userId: uuid('user_id'),
    method: text('method'),
    route: text('route'),
    correlationId: text('correlation_id'),
  },
  (table) => [
    index('security_events_occurred_at_idx').on(table.occurredAt),
    index('security_events_ip_idx').on(table.ip, table.occurredAt),
    index('security_events_user_id_idx').on(table.userId),
  ],
);

/**
 * Addresses (or IPv6 prefixes) refused with 403 IP_BLOCKED until `expires_at`, automatic or
 * set by an admin; `lifted_at` ends one early. Kept SECURITY_EVENT_RETENTION_DAYS after expiry.
 */
export const ipBlocks = pgTable(
  'ip_blocks',
  {
    id: uuid('id').primaryKey(),
    ipKey: text('ip_key').notNull(),
    reason: text('reason').notNull(),
    source: text('source').notNull(),
    /** 1 for an address's first automatic block in 7 days, 2 for the next…; picks the duration. */
    level: integer('level').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdBy: uuid('created_by'),
    liftedAt: timestamp('lifted_at', { withTimezone: true }),
    liftedBy: uuid('lifted_by'),
    liftReason: text('lift_reason'),
  },
  (table) => [
    index('ip_blocks_ip_key_idx').on(table.ipKey, table.createdAt),
    index('ip_blocks_expires_at_idx').on(table.expiresAt),
  ],
);

/** Alerts for admins, sent at once or, within SECURITY_ALERT_DIGEST_MINUTES of the last one, as a digest. */
export const securityAlerts = pgTable(
  'security_alerts',
  {
    id: uuid('id').primaryKey(),
    kind: text('kind').notNull(),
    summary: text('summary').notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    digestId: uuid('digest_id'),
  },
  (table) => [index('security_alerts_sent_at_idx').on(table.sentAt, table.createdAt)],
);

export type SecurityEventRow = typeof securityEvents.$inferSelect;
export type IpBlockRow = typeof ipBlocks.$inferSelect;
export type SecurityAlertRow = typeof securityAlerts.$inferSelect;

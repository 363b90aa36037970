import type { SecurityConfig } from '../../config.js';
import { AppError } from '../../errors.js';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/client.js';
import { inTransaction } from '../../infra/db/transaction.js';
import type { IdGenerator } from '../../infra/ids.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import { createMemoryStore } from '../../infra/kv/memory.js';
import type { Logger } from '../../infra/logger.js';
import type { Metrics } from '../../infra/metrics.js';
import type { CallContext } from '../../shared/actor.js';
import { addressSet, clientKey } from '../../shared/ip.js';
import type { AuditService } from '../audit/index.js';
import { type Finding, SEVERITY_RANK, type Severity, type ThreatType } from './detect/index.js';
import { maskSample } from './security.mask.js';
import type { SecurityRepository } from './security.repository.js';
import type { IpBlockRow, SecurityEventRow } from './security.tables.js';

/** Points a finding adds to its address's (and person's) score; at SECURITY_BLOCK_SCORE the address is blocked. */
export const POINTS: Record<Severity, number> = { low: 3, medium: 10, high: 20, critical: 40 };
export const LOGIN_FAILURE_POINTS = 5;
/** Scores live in 5-minute buckets; the previous two count half and a quarter (a ~5-minute half-life). */
const BUCKET_MS = 5 * 60_000;
const LEVEL_MEMORY_MS = 7 * 86_400_000;
const FLUSH_MS = 250;
const FLUSH_BATCH = 200;
export const BLOCKS_CHANNEL = 'security:blocks';
const BLOCK_RELOAD_MS = 30_000;

export type EventType =
  | ThreatType
  | 'brute_force'
  | 'ip_blocked'
  | 'refresh_token_reuse'
  | 'webhook_signature'
  | 'audit_chain'
  | 'payment_mismatch';
export type EventAction = 'refused' | 'scored' | 'recorded' | 'blocked';

export interface EventInput {
  type: EventType;
  severity: Severity;
  rule: string;
  location: string;
  sample?: string;
  action: EventAction;
  ip: string | null;
  userId?: string | null;
  method?: string | null;
  route?: string | null;
  correlationId?: string | null;
  /** Added to the address's and the person's scores (0: recorded only). */
  points: number;
}

export interface AlertSink {
  raise(kind: string, summary: string, details: Record<string, unknown>): Promise<void>;
}

/**
 * The monitor: records security events (buffered, written in batches), keeps a decaying score per
 * address and per person in the shared store, blocks an address when its score reaches the
 * threshold — for 15 minutes, then 1 hour, then 24 hours for repeat offenders — and raises alerts.
 * Blocks are rows (the truth, listed and lifted by admins) mirrored in every instance's memory,
 * so checking one costs a map lookup: changes travel on the store's `security:blocks` channel
 * and every instance reloads the list every 30 s in case a message was lost.
 */
export function createSecurityService(deps: {
  db: Db;
  repository: SecurityRepository;
  kv: KeyValueStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  metrics: Metrics;
  audit: AuditService;
  config: SecurityConfig;
  alerts: AlertSink;
}) {
  const { db, repository, kv, clock, ids, logger, metrics, config } = deps;
  const allowlist = addressSet(config.allowlist);
  const blocked = new Map<string, { id: string; until: number }>();
  let buffer: SecurityEventRow[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let reloadTimer: NodeJS.Timeout | undefined;

  // Scores, the burst count and the block guard live in the shared store; while it is down they
  // are kept in this instance's memory instead, so attacks still escalate to a block (a database
  // row) during an outage.
  const fallback = createMemoryStore(clock);
  const counters = async <T>(use: (store: KeyValueStore) => Promise<T>): Promise<T> => {
    try {
      return await use(kv);
    } catch {
      return use(fallback);
    }
  };

  const keyOf = (ip: string) => clientKey(ip, config.ipv6PrefixLength);
  const enforcing = config.inspection === 'block';

  const flush = (): Promise<void> => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    if (buffer.length === 0) return flushing;
    const rows = buffer;
    buffer = [];
    flushing = flushing
      .then(() => repository.insertEvents(db, rows))
      .catch((error) => logger.error({ err: error, events: rows.length }, 'security events could not be stored'));
    return flushing;
  };

  const score = async (scope: 'ip' | 'user', key: string, points: number): Promise<number> => {
    const bucket = Math.floor(clock.now().getTime() / BUCKET_MS);
    const base = `sec:score:${scope}:${key}:`;
    const [{ count }, previous, before] = await counters((store) =>
      Promise.all([
        store.increment(`${base}${bucket}`, 3 * BUCKET_MS, points),
        store.get(`${base}${bucket - 1}`),
        store.get(`${base}${bucket - 2}`),
      ]),
    );
    return count + Number(previous ?? 0) / 2 + Number(before ?? 0) / 4;
  };

  const resetScore = async (key: string) => {
    const bucket = Math.floor(clock.now().getTime() / BUCKET_MS);
    const keys = [0, 1, 2].map((back) => `sec:score:ip:${key}:${bucket - back}`);
    await Promise.all(keys.map((name) => fallback.delete(name)));
    await Promise.all(keys.map((name) => kv.delete(name)));
  };

  const remember = (row: Pick<IpBlockRow, 'id' | 'ipKey' | 'expiresAt'>) => {
    blocked.set(row.ipKey, { id: row.id, until: row.expiresAt.getTime() });
  };

  const reload = async () => {
    const rows = await repository.activeBlocks(db, clock.now());
    blocked.clear();
    // Newest first: an older block of the same key never hides a newer one.
    for (const row of rows.reverse()) remember(row);
  };

  const announce = (message: { op: 'block' | 'lift'; id: string; key: string; until?: number }) =>
    kv.publish(BLOCKS_CHANNEL, JSON.stringify(message)).catch((error) => {
      logger.warn({ err: error }, 'block change could not be announced; other instances see it within 30 s');
    });

  const service = {
    keyOf,
    now: () => clock.now().getTime(),
    isAllowListed: (ip: string) => allowlist.has(ip),

    /** When the address is blocked: the time the block ends (ms); else undefined. Synchronous. */
    blockedUntil(ip: string): number | undefined {
      if (blocked.size === 0) return undefined;
      const entry = blocked.get(keyOf(ip));
      if (!entry) return undefined;
      if (entry.until <= clock.now().getTime()) {
        blocked.delete(keyOf(ip));
        return undefined;
      }
      return entry.until;
    },

    /** Records one event and applies its points; may block the address. Never throws. */
    async record(input: EventInput): Promise<void> {
      const allowListed = input.ip !== null && allowlist.has(input.ip);
      const points = allowListed || !enforcing ? 0 : input.points;
      const row: SecurityEventRow = {
        id: ids(),
        occurredAt: clock.now(),
        type: input.type,
        severity: input.severity,
        rule: input.rule,
        location: input.location,
        sample: input.sample === undefined ? null : maskSample(input.sample, input.location),
        action: allowListed && input.action !== 'refused' ? 'recorded' : input.action,
        points,
        ip: input.ip,
        userId: input.userId ?? null,
        method: input.method ?? null,
        route: input.route ?? null,
        correlationId: input.correlationId ?? null,
      };
      metrics.securityEvents.inc({ type: row.type, severity: row.severity });
      logger.warn(
        {
          security_event: row.type,
          severity: row.severity,
          rule: row.rule,
          location: row.location,
          sample: row.sample,
          action: row.action,
          ip: row.ip,
          user_id: row.userId,
          route: row.route,
          correlation_id: row.correlationId,
        },
        `security event: ${row.type} (${row.rule})`,
      );
      buffer.push(row);
      if (buffer.length >= FLUSH_BATCH) void flush();
      else flushTimer ??= setTimeout(() => void flush(), FLUSH_MS);
      try {
        await service.afterEvent(row);
      } catch (error) {
        logger.error({ err: error }, 'security scoring failed');
      }
    },

    async afterEvent(row: SecurityEventRow): Promise<void> {
      const minute = Math.floor(row.occurredAt.getTime() / 60_000);
      const { count } = await counters((store) => store.increment(`sec:burst:${minute}`, 120_000));
      if (count === config.burstEvents) {
        await deps.alerts.raise('burst', `${count} security events within a minute`, {
          minute: new Date(minute * 60_000).toISOString(),
          last_type: row.type,
          last_ip: row.ip,
        });
      }
      if (SEVERITY_RANK[row.severity as Severity] >= SEVERITY_RANK.critical && row.type !== 'ip_blocked') {
        await deps.alerts.raise(row.type, `${row.type} (${row.rule}) from ${row.ip ?? 'unknown address'}`, {
          event_id: row.id,
          rule: row.rule,
          location: row.location,
          ip: row.ip,
          route: row.route,
        });
      }
      if (row.points <= 0 || row.ip === null) return;
      const key = keyOf(row.ip);
      const ipScore = await score('ip', key, row.points);
      const userScore = row.userId ? await score('user', row.userId, row.points) : 0;
      if (
        (ipScore >= config.blockScore || userScore >= config.blockScore) &&
        service.blockedUntil(row.ip) === undefined
      ) {
        await service.blockAutomatically(row.ip, {
          reason:
            ipScore >= config.blockScore
              ? `score ${Math.round(ipScore)} reached ${config.blockScore} (last: ${row.type}, ${row.rule})`
              : `account ${row.userId} score ${Math.round(userScore)} reached ${config.blockScore}`,
          correlationId: row.correlationId,
          userId: row.userId,
        });
      }
    },

    /** Blocks the address for its next escalation period; one instance wins a race, the others see its block. */
    async blockAutomatically(
      ip: string,
      input: { reason: string; correlationId?: string | null; userId?: string | null },
    ): Promise<void> {
      if (allowlist.has(ip) || !enforcing) return;
      const key = keyOf(ip);
      // Keyed by the app's own 10-second window (not only the store's TTL), so the guard never
      // outlives the moment it protects whatever clock the store keeps.
      const window = Math.floor(clock.now().getTime() / 10_000);
      const { count } = await counters((store) => store.increment(`sec:blocking:${key}:${window}`, 20_000));
      if (count > 1) return;
      const now = clock.now();
      const row = await inTransaction(db, async (tx) => {
        const previous = await repository.recentAutomaticBlocks(tx, key, new Date(now.getTime() - LEVEL_MEMORY_MS));
        const level = previous + 1;
        const minutes = config.blockMinutes[Math.min(level, config.blockMinutes.length) - 1] as number;
        const block: IpBlockRow = {
          id: ids(),
          ipKey: key,
          reason: input.reason,
          source: 'automatic',
          level,
          createdAt: now,
          expiresAt: new Date(now.getTime() + minutes * 60_000),
          createdBy: null,
          liftedAt: null,
          liftedBy: null,
          liftReason: null,
        };
        await repository.insertBlock(tx, block);
        await deps.audit.record(
          tx,
          { actorId: null, ip, correlationId: input.correlationId ?? null },
          {
            action: 'security.ip_blocked',
            targetType: 'ip_block',
            targetId: block.id,
            details: { ip_key: key, level, minutes, reason: input.reason, source: 'automatic' },
          },
        );
        return block;
      });
      remember(row);
      await announce({ op: 'block', id: row.id, key, until: row.expiresAt.getTime() });
      const minutes = Math.round((row.expiresAt.getTime() - now.getTime()) / 60_000);
      await service.record({
        type: 'ip_blocked',
        severity: 'critical',
        rule: `block.level_${row.level}`,
        location: 'address',
        sample: input.reason,
        action: 'blocked',
        ip,
        userId: input.userId ?? null,
        correlationId: input.correlationId ?? null,
        points: 0,
      });
      await deps.alerts.raise('ip_blocked', `${key} blocked for ${minutes} minutes (level ${row.level})`, {
        block_id: row.id,
        ip_key: key,
        level: row.level,
        expires_at: row.expiresAt.toISOString(),
        reason: input.reason,
      });
    },

    /** An admin's block of an address or CIDR-less IPv6 prefix for `minutes`. */
    async blockByAdmin(
      caller: CallContext & { id: string },
      input: { ip: string; minutes: number; reason: string },
    ): Promise<IpBlockRow> {
      const key = keyOf(input.ip);
      if (allowlist.has(input.ip)) {
        throw new AppError('CONFLICT', `${input.ip} is in SECURITY_ALLOWLIST; remove it there to block it`);
      }
      const now = clock.now();
      const row = await inTransaction(db, async (tx) => {
        await repository.liftActive(tx, key, { at: now, by: caller.id, reason: 'replaced by a new block' });
        const block: IpBlockRow = {
          id: ids(),
          ipKey: key,
          reason: input.reason,
          source: 'admin',
          level: 0,
          createdAt: now,
          expiresAt: new Date(now.getTime() + input.minutes * 60_000),
          createdBy: caller.id,
          liftedAt: null,
          liftedBy: null,
          liftReason: null,
        };
        await repository.insertBlock(tx, block);
        await deps.audit.record(
          tx,
          { actorId: caller.id, ip: caller.ip, correlationId: caller.correlationId },
          {
            action: 'security.ip_blocked',
            targetType: 'ip_block',
            targetId: block.id,
            details: { ip_key: key, minutes: input.minutes, reason: input.reason, source: 'admin' },
          },
        );
        return block;
      });
      remember(row);
      await announce({ op: 'block', id: row.id, key, until: row.expiresAt.getTime() });
      return row;
    },

    /** Lifts a block early; the address's score starts again from zero. */
    async lift(caller: CallContext & { id: string }, blockId: string, reason: string): Promise<IpBlockRow> {
      const now = clock.now();
      const row = await inTransaction(db, async (tx) => {
        const found = await repository.findBlock(tx, blockId);
        if (!found)
          throw new AppError('NOT_FOUND', 'No block with this id (GET /api/v1/admin/security/blocks lists them)');
        if (found.liftedAt || found.expiresAt <= now) {
          throw new AppError('INVALID_STATE', 'This block has already ended; nothing to lift');
        }
        const [lifted] = await repository.liftActive(tx, found.ipKey, { at: now, by: caller.id, reason });
        await deps.audit.record(
          tx,
          { actorId: caller.id, ip: caller.ip, correlationId: caller.correlationId },
          {
            action: 'security.ip_unblocked',
            targetType: 'ip_block',
            targetId: found.id,
            details: { ip_key: found.ipKey, reason },
          },
        );
        return lifted ?? found;
      });
      blocked.delete(row.ipKey);
      await resetScore(row.ipKey);
      const window = Math.floor(clock.now().getTime() / 10_000);
      await Promise.all([window, window - 1].map((w) => kv.delete(`sec:blocking:${row.ipKey}:${w}`)));
      await announce({ op: 'lift', id: row.id, key: row.ipKey });
      return row;
    },

    /** A failed or refused sign-in from `ip`: recorded, and 5 points towards a block. */
    async loginFailed(context: CallContext, details: { reason: string; userId: string | null }): Promise<void> {
      await service.record({
        type: 'brute_force',
        severity: 'low',
        rule: `login.${details.reason}`,
        location: 'login',
        action: 'scored',
        ip: context.ip,
        userId: null,
        correlationId: context.correlationId,
        points: LOGIN_FAILURE_POINTS,
      });
    },

    /** For other modules: a security signal that is not a request finding (token reuse, bad signature). */
    async signal(
      context: Partial<CallContext>,
      input: {
        type: EventType;
        severity: Severity;
        rule: string;
        userId?: string | null;
        points?: number;
        detail?: string;
        location?: string;
      },
    ): Promise<void> {
      await service.record({
        type: input.type,
        severity: input.severity,
        rule: input.rule,
        location: input.location ?? 'signal',
        sample: input.detail,
        action: 'recorded',
        ip: context.ip ?? null,
        userId: input.userId ?? null,
        correlationId: context.correlationId ?? null,
        points: input.points ?? 0,
      });
    },

    /** A request finding: recorded with where it was, scored per route config. */
    async finding(
      finding: Finding,
      where: { location: string; sample: string; action: EventAction },
      request: { ip: string; userId?: string; method: string; route?: string; correlationId: string },
    ): Promise<void> {
      const points = where.action === 'scored' ? Math.ceil(POINTS[finding.severity] / 2) : POINTS[finding.severity];
      await service.record({
        type: finding.type,
        severity: finding.severity,
        rule: finding.rule,
        location: where.location,
        sample: where.sample,
        action: enforcing ? where.action : 'recorded',
        ip: request.ip,
        userId: request.userId ?? null,
        method: request.method,
        route: request.route ?? null,
        correlationId: request.correlationId,
        points,
      });
    },

    receive(raw: string): void {
      try {
        const message = JSON.parse(raw) as { op: string; id: string; key: string; until?: number };
        if (message.op === 'block' && typeof message.until === 'number') {
          blocked.set(message.key, { id: message.id, until: message.until });
        } else if (message.op === 'lift' && blocked.get(message.key)?.id === message.id) {
          blocked.delete(message.key);
        }
      } catch {
        logger.warn('ignored a malformed block announcement');
      }
    },

    async start(): Promise<void> {
      await reload().catch((error) => logger.error({ err: error }, 'active blocks could not be loaded'));
      reloadTimer = setInterval(() => {
        reload().catch((error) => logger.warn({ err: error }, 'active blocks could not be reloaded'));
      }, BLOCK_RELOAD_MS);
      reloadTimer.unref();
    },

    /** Writes buffered events now (tests, shutdown). */
    flush,

    async close(): Promise<void> {
      if (reloadTimer) clearInterval(reloadTimer);
      await flush();
    },
  };
  return service;
}

export type SecurityService = ReturnType<typeof createSecurityService>;

import { sql } from 'drizzle-orm';
import type { Clock } from '../clock.js';
import { type Db, queryRows } from '../db/client.js';
import type { IdGenerator } from '../ids.js';
import type { Metrics } from '../metrics.js';
import { SpanKind, traced } from '../tracing.js';
import { outbox } from './outbox.tables.js';

export interface OutboxMessage {
  type: string;
  payload: Record<string, unknown>;
  /** Not before this time (reminders, quiet hours); default now. */
  deliverAfter?: Date;
  maxAttempts?: number;
}

export interface DeliveryContext {
  id: string;
  type: string;
  /** 1 on the first try. */
  attempt: number;
  /** The last attempt the message gets: a failure on it makes the message dead. */
  maxAttempts: number;
}

/**
 * Thrown by a handler that may not deliver yet (e.g. quiet hours): the message waits until
 * `until` and this try does not count as an attempt or a failure.
 */
export class DeferDelivery extends Error {
  override name = 'DeferDelivery';
  readonly until: Date;

  constructor(until: Date, reason = 'deferred') {
    super(`${reason} until ${until.toISOString()}`);
    this.until = until;
  }
}

/** Delivers one message; throwing means "try again later" (`DeferDelivery`: later, without a failure). */
export type OutboxHandler = (payload: Record<string, unknown>, context: DeliveryContext) => Promise<void>;

export interface HandlerOptions {
  maxAttempts?: number;
  /** Delay before retry number `attempt` (1-based); default exponential with jitter. */
  retryDelayMs?: (attempt: number) => number;
}

export interface RegisteredHandler extends HandlerOptions {
  handle: OutboxHandler;
}

export interface Outbox {
  /** Writes the message in the caller's transaction: it exists exactly when the change commits. */
  enqueue(tx: Db, message: OutboxMessage): Promise<string>;
  register(type: string, handle: OutboxHandler, options?: HandlerOptions): void;
  handlerFor(type: string): RegisteredHandler | undefined;
}

export function createOutbox(deps: { clock: Clock; ids: IdGenerator; metrics: Metrics; defaultMaxAttempts: number }) {
  const handlers = new Map<string, RegisteredHandler>();
  const outboxService: Outbox = {
    async enqueue(tx, message) {
      const id = deps.ids();
      const now = deps.clock.now();
      await tx.insert(outbox).values({
        id,
        type: message.type,
        payload: message.payload,
        maxAttempts: message.maxAttempts ?? handlers.get(message.type)?.maxAttempts ?? deps.defaultMaxAttempts,
        deliverAfter: message.deliverAfter ?? now,
        createdAt: now,
      });
      deps.metrics.outboxMessages.inc({ type: message.type, event: 'queued' });
      return id;
    },
    register(type, handle, options = {}) {
      if (handlers.has(type)) throw new Error(`outbox handler for "${type}" is already registered`);
      handlers.set(type, { handle: tracedDelivery(handle), ...options });
    },
    handlerFor(type) {
      return handlers.get(type);
    },
  };
  return outboxService;
}

/**
 * The backlog Prometheus sees (outbox_due_messages, outbox_oldest_due_age_seconds): messages due
 * by `now` and not delivered, waiting or being delivered; a message scheduled for later (a
 * reminder) is not behind. Uses the dispatcher's own index.
 */
export async function outboxBacklog(db: Db, now: Date): Promise<{ due: number; oldestDueSeconds: number }> {
  const at = now.toISOString();
  const [row] = await queryRows<{ due: number | string; oldest_due_seconds: number | string | null }>(
    db,
    sql`select count(*) as due,
      coalesce(extract(epoch from (${at}::timestamptz - min(${outbox.deliverAfter}))), 0) as oldest_due_seconds
    from ${outbox}
    where ${outbox.status} in ('pending', 'processing') and ${outbox.deliverAfter} <= ${at}`,
  );
  return { due: Number(row?.due ?? 0), oldestDueSeconds: Math.max(0, Number(row?.oldest_due_seconds ?? 0)) };
}

/**
 * Each delivery in a root span of its own (a consumer of the message; the dispatcher runs on a
 * timer, outside any request). A deferral is the handler's answer, not a failure: it leaves the
 * span as a return value and is thrown again outside it.
 */
function tracedDelivery(handle: OutboxHandler): OutboxHandler {
  return async (payload, context) => {
    const deferral = await traced(
      'outbox.dispatch',
      {
        'messaging.system': 'outbox',
        'messaging.operation.type': 'process',
        'messaging.destination.name': context.type,
        'messaging.message.id': context.id,
        'outbox.attempt': context.attempt,
      },
      async () => {
        try {
          await handle(payload, context);
          return undefined;
        } catch (error) {
          if (error instanceof DeferDelivery) return error;
          throw error;
        }
      },
      { root: true, kind: SpanKind.CONSUMER },
    );
    if (deferral) throw deferral;
  };
}

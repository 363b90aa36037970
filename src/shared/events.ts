import type { Plan } from './actor.js';

/**
 * The reactions between modules, by name: what happened, with what a subscriber needs. A module
 * publishes in the transaction of the change; subscribers run after it commits (never for a
 * change that rolled back). What must survive a crash goes through the outbox instead.
 */
export interface DomainEvents {
  /** What readers see of the published content changed (an item published, edited, archived). */
  'content.published_changed': { contentId: string };
  /**
   * Uploads were deleted (by their owner, an admin, or the owner's erasure): their links are gone
   * (foreign keys), so pages that showed them are stale.
   */
  'media.deleted': { userId: string; media: { id: string; purpose: string }[] };
  /** A person's lifestyle profile changed. */
  'profile.changed': { userId: string };
  /** A person's plan changed (admin, trial start). */
  'plan.changed': { userId: string; from: Plan; to: Plan };
  /** A person granted or withdrew a consent. */
  'consent.changed': { userId: string; purpose: string; granted: boolean };
  /** A check found tampering or abuse outside a request (the audit chain broke): the security monitor records and alerts. */
  'security.signal': { type: 'audit_chain' | 'payment_mismatch'; severity: 'critical'; rule: string; detail: string };
  /**
   * Something the named people's open apps should hear of now (the live module sends it to their
   * WebSockets, on every instance, and keeps it a day for clients that reconnect).
   */
  'live.message': {
    to: string[];
    type: LiveMessageType;
    data: Record<string, unknown>;
    /**
     * Fields sent to open sockets but never stored for resume (a chat message's text: it must
     * not outlive its sender's erasure); a reconnecting app fetches them.
     */
    live?: Record<string, unknown>;
  };
}

/** The live message types (`{ type, id, at, data }` on `/api/v1/live`). */
export const LIVE_MESSAGE_TYPES = [
  'booking.created',
  'booking.confirmed',
  'booking.cancelled',
  'booking.rescheduled',
  'booking.completed',
  'payment.updated',
  'chat.message',
  'chat.read',
  'notification.created',
  'review.posted',
] as const;
export type LiveMessageType = (typeof LIVE_MESSAGE_TYPES)[number];

export type DomainEventName = keyof DomainEvents;

export interface EventBus {
  /**
   * Delivers the event to its subscribers after the enclosing transaction commits, or now outside
   * one (resolving when they are done). Subscriber failures are logged, never thrown.
   */
  publish<K extends DomainEventName>(name: K, payload: DomainEvents[K]): Promise<void>;
  /** Adds a subscriber; returns the function that removes it. */
  subscribe<K extends DomainEventName>(
    name: K,
    handler: (payload: DomainEvents[K]) => Promise<void> | void,
  ): () => void;
}

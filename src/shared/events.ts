import type { Plan } from './actor.js';

/**
 * The reactions between modules, by name: what happened, with what a subscriber needs. A module
 * publishes in the transaction of the change; subscribers run after it commits (never for a
 * change that rolled back). What must survive a crash goes through the outbox instead.
 */
export interface DomainEvents {
  /** What readers see of the published content changed (an item published, edited, archived). */
  'content.published_changed': { contentId: string };
  /** A person's lifestyle profile changed. */
  'profile.changed': { userId: string };
  /** A person's plan changed (admin, trial start). */
  'plan.changed': { userId: string; from: Plan; to: Plan };
  /** A person granted or withdrew a consent. */
  'consent.changed': { userId: string; purpose: string; granted: boolean };
}

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

import type { DomainEventName, DomainEvents, EventBus } from '../shared/events.js';
import { afterCommit } from './db/transaction-context.js';
import type { Logger } from './logger.js';

type Handler<K extends DomainEventName> = (payload: DomainEvents[K]) => Promise<void> | void;

/**
 * The in-process event bus: a publish inside a transaction is held until it commits, then each
 * subscriber runs in turn (the committing caller awaits them, so a request's reactions are done
 * when it answers). A failing subscriber is logged and does not stop the others; the change it
 * reacts to has committed either way.
 */
export function createEventBus(deps: { logger: Logger }): EventBus {
  const handlers = new Map<DomainEventName, Set<Handler<DomainEventName>>>();
  return {
    async publish(name, payload) {
      const subscribers = handlers.get(name);
      if (!subscribers || subscribers.size === 0) return;
      for (const handler of [...subscribers]) {
        await afterCommit(
          () => handler(payload),
          (error) => deps.logger.error({ err: error, event: name }, 'event subscriber failed'),
        );
      }
    },
    subscribe(name, handler) {
      const subscribers = handlers.get(name) ?? new Set();
      subscribers.add(handler as Handler<DomainEventName>);
      handlers.set(name, subscribers);
      return () => subscribers.delete(handler as Handler<DomainEventName>);
    },
  };
}

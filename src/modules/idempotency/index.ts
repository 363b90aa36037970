import type { Platform } from '../../platform.js';
import type { IdempotencyStore } from '../../shared/idempotency.js';
import type { ModuleDescriptor } from '../../shared/module.js';
import { createIdempotencyStore, idempotencyPersonalData } from './idempotency.store.js';

/** Claimed `Idempotency-Key`s and their first answers, for every module that accepts them. */
export function createIdempotencyModule(platform: Platform): ModuleDescriptor<'idempotency', IdempotencyStore> {
  return {
    name: 'idempotency',
    service: createIdempotencyStore({ clock: platform.clock }),
    dataMap: idempotencyPersonalData,
  };
}

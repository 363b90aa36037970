import { type Static, Type } from '@sinclair/typebox';
import { ComponentHealth } from '../../shared/health.js';

export { ComponentHealth };

export const HealthStatus = Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('critical')]);

/** Everyone sees success and status; the rest only admins and HEALTH_TOKEN holders. */
export const HealthReport = Type.Object({
  success: Type.Boolean(),
  status: HealthStatus,
  services: Type.Optional(Type.Record(Type.String(), ComponentHealth)),
  uptime: Type.Optional(Type.Number({ description: 'seconds since the process started' })),
  memory: Type.Optional(Type.Object({ rss: Type.Integer(), heap_used: Type.Integer(), heap_total: Type.Integer() })),
  version: Type.Optional(Type.String()),
  timestamp: Type.Optional(Type.String({ format: 'date-time' })),
});

export const LiveReport = Type.Object({ success: Type.Literal(true), status: Type.Literal('alive') });

export const ReadyReport = Type.Object({
  success: Type.Boolean(),
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  reason: Type.Optional(Type.String()),
});

export type HealthReport = Required<Static<typeof HealthReport>>;
export type ReadyReport = Static<typeof ReadyReport>;

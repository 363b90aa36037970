import { type Static, Type } from '@sinclair/typebox';

/**
 * up / down: probed now. connected / failing: a background integration (the Sheets sync) that is
 * not called per request reports how its last run went.
 */
export const ComponentHealth = Type.Object({
  status: Type.Union([
    Type.Literal('up'),
    Type.Literal('down'),
    Type.Literal('connected'),
    Type.Literal('failing'),
    Type.Literal('not_configured'),
  ]),
  latency_ms: Type.Optional(Type.Number()),
  kind: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  checked_at: Type.Optional(
    Type.String({ format: 'date-time', description: 'when a connected/failing component last ran' }),
  ),
});

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

export type ComponentHealth = Static<typeof ComponentHealth>;
export type HealthReport = Required<Static<typeof HealthReport>>;
export type ReadyReport = Static<typeof ReadyReport>;

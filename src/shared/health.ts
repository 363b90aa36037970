import { type Static, Type } from '@sinclair/typebox';

/**
 * A dependency's state in the health report. up / down: probed now. connected / failing: a
 * background integration (the Sheets sync) that is not called per request reports how its
 * last run went.
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
export type ComponentHealth = Static<typeof ComponentHealth>;

/**
 * One dependency the health report checks. `required` ones make the app critical when down.
 * Either probed on each report (`check`, throws when unreachable) or, for a background
 * integration not worth calling per request, its own account of its last run (`state`).
 */
export type HealthCheck = {
  name: string;
  required: boolean;
  kind?: string;
  configured?: boolean;
} & ({ check(): Promise<void> } | { state(): ComponentHealth });

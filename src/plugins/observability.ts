import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ErrorTracker } from '../infra/error-tracking.js';
import { tracer } from '../infra/tracing.js';
import { routeConfigOf } from './route-config.js';

export interface ObservabilityOptions {
  /** OTLP tracing is on (src/infra/telemetry.ts started): one server span per request. */
  tracing: boolean;
  /** Sentry is on (src/infra/error-tracking.ts): 5xx answers are reported. */
  errors?: ErrorTracker;
}

const REQUEST_TRACE = Symbol('requestTrace');
const FAILURE = Symbol('failure');

interface RequestSlots {
  [REQUEST_TRACE]?: Span;
  /** The error the error handler answered, for the span and the report. */
  [FAILURE]?: unknown;
}

const slotsOf = (request: FastifyRequest) => request as unknown as RequestSlots;

// Load shedding, a database or store that is down, draining: each has its metric and alert
// (deploy/prometheus/alerts.yml), and one Sentry event per refused request would bury real bugs
// and the quota exactly during the incident.
const isReportable = (status: number) => status >= 500 && status !== 503;

/**
 * Tracing and error reporting for every request; registered first so that the span it opens is
 * the active one in every later hook and in the handler. Nothing is added when both are off.
 */
export const observabilityPlugin = fp<ObservabilityOptions>(
  async (app: FastifyInstance, { tracing, errors }) => {
    if (!tracing && !errors) return;

    if (tracing) {
      app.addHook('onRequest', (request, _reply, done) => {
        const route = routeConfigOf(request);
        // Probes and scrapes (health, /metrics) come every few seconds from monitors: no traces.
        if (route.rateLimit === 'probe') return done();
        const parent = propagation.extract(ROOT_CONTEXT, request.headers);
        const span = startServerSpan(request, route.url, parent);
        const active = trace.setSpan(parent, span);
        slotsOf(request)[REQUEST_TRACE] = span;
        // Every later hook and the handler run inside this call, or in async work it starts: the
        // span is their active one. (Fastify hands a parsed body back in the request's own
        // async context, so a body read in later socket events keeps it too.)
        context.with(active, done);
      });
      app.addHook('onRequestAbort', (request, done) => {
        const span = slotsOf(request)[REQUEST_TRACE];
        if (span) {
          slotsOf(request)[REQUEST_TRACE] = undefined;
          span.setAttribute('error.type', 'aborted');
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'client closed the request' });
          span.end();
        }
        done();
      });
    }

    app.addHook('onError', (request, _reply, error, done) => {
      slotsOf(request)[FAILURE] = error;
      done();
    });

    app.addHook('onResponse', (request, reply, done) => {
      const slots = slotsOf(request);
      const status = reply.statusCode;
      const span = slots[REQUEST_TRACE];
      if (errors && isReportable(status)) {
        const traceId = span?.isRecording() ? span.spanContext().traceId : undefined;
        errors.captureRequestError(slots[FAILURE] ?? new Error(`answered ${status} without an error`), {
          correlationId: request.id,
          method: request.method,
          route: routeConfigOf(request).url ?? 'unmatched',
          statusCode: status,
          traceId,
        });
      }
      if (span) {
        slots[REQUEST_TRACE] = undefined;
        endServerSpan(span, status, slots[FAILURE]);
      }
      done();
    });
  },
  { name: 'observability' },
);

/** A SERVER span named after the route pattern (never the URL), child of an incoming `traceparent`. */
function startServerSpan(request: FastifyRequest, route: string | undefined, parent: Context): Span {
  return tracer.startSpan(
    route ? `${request.method} ${route}` : request.method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': request.method,
        ...(route ? { 'http.route': route } : {}),
        'url.scheme': request.protocol,
        correlation_id: request.id,
      },
    },
    parent,
  );
}

function endServerSpan(span: Span, status: number, failure: unknown): void {
  span.setAttribute('http.response.status_code', status);
  if (status >= 500) {
    span.setAttribute('error.type', String(status));
    if (failure instanceof Error) span.recordException(failure);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

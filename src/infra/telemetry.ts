import {
  type Context,
  context,
  type DiagLogger,
  DiagLogLevel,
  diag,
  ProxyTracerProvider,
  propagation,
  type Span,
  type SpanOptions,
  type Tracer,
  type TracerOptions,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { Logger } from './logger.js';

export interface TelemetryOptions {
  /** OTLP/HTTP collector base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  serviceName: string;
  /** Share of new traces sampled; a request that arrives with a sampled parent follows the parent. */
  sampleRatio: number;
  version: string;
  environment: string;
}

export interface Telemetry {
  /** Exports every span ended so far (tests read them at the collector). */
  flush(): Promise<void>;
  /** Exports what is left and stops recording: spans are no-ops again afterwards. */
  shutdown(): Promise<void>;
}

/**
 * The one tracer provider the OpenTelemetry API ever gets in this process. The API's tracers
 * (src/infra/tracing.ts takes one at import) keep the first provider they see for good, and a
 * provider cannot be unregistered and replaced under them; so this one is registered once and
 * hands every call to the provider of the telemetry now running, or to the API's no-op tracer.
 * Several apps in one process (tests, the tracing bench) each start and stop their own.
 */
class SwitchableTracerProvider implements TracerProvider {
  private readonly idle = new ProxyTracerProvider();
  current: TracerProvider | undefined;

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    const tracerNow = () => (this.current ?? this.idle).getTracer(name, version, options);
    return {
      startSpan: (spanName: string, spanOptions?: SpanOptions, parent?: Context): Span =>
        tracerNow().startSpan(spanName, spanOptions, parent),
      startActiveSpan: ((...args: unknown[]) =>
        (tracerNow().startActiveSpan as (...inner: unknown[]) => unknown)(...args)) as Tracer['startActiveSpan'],
    };
  }
}

let switchable: SwitchableTracerProvider | undefined;

function globalProvider(logger: Logger): SwitchableTracerProvider {
  if (!switchable) {
    switchable = new SwitchableTracerProvider();
    if (!trace.setGlobalTracerProvider(switchable)) {
      logger.warn('another OpenTelemetry tracer provider is already registered: our spans go to it');
    }
  }
  return switchable;
}

/** OpenTelemetry's own complaints (an unreachable collector, a dropped batch) as warnings in our log. */
function diagLoggerOf(logger: Logger): DiagLogger {
  const log = (message: string) => logger.warn({ component: 'otel' }, message);
  const ignore = () => {};
  return { error: log, warn: log, info: ignore, debug: ignore, verbose: ignore };
}

/**
 * Starts tracing: spans from `traced()` and the HTTP plugin are batched and sent to the OTLP
 * collector as JSON. The SDK packages are imported here, only when OTEL_EXPORTER_OTLP_ENDPOINT is
 * set: with tracing off the process never loads them and every span is the API's no-op.
 */
export async function startTelemetry(options: TelemetryOptions, logger: Logger): Promise<Telemetry> {
  const [
    { NodeTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler },
    { OTLPTraceExporter },
    { detectResources, envDetector, resourceFromAttributes },
    { W3CTraceContextPropagator },
    { AsyncLocalStorageContextManager },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
    import('@opentelemetry/context-async-hooks'),
  ]);

  diag.setLogger(diagLoggerOf(logger), DiagLogLevel.WARN);
  const resource = resourceFromAttributes({
    'service.name': options.serviceName,
    'service.version': options.version,
    'deployment.environment.name': options.environment,
  })
    // OTEL_RESOURCE_ATTRIBUTES (e.g. deployment.environment.name=staging, k8s.pod.name) wins.
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.endpoint}/v1/traces` }))],
  });
  // The active span follows async work (awaits, timers) through AsyncLocalStorage; incoming
  // `traceparent` headers are read as W3C trace context.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const switchboard = globalProvider(logger);
  switchboard.current = provider;

  let stopped: Promise<void> | undefined;
  return {
    flush: () => provider.forceFlush(),
    shutdown() {
      stopped ??= (async () => {
        if (switchboard.current === provider) switchboard.current = undefined;
        context.disable();
        propagation.disable();
        try {
          await provider.shutdown();
        } finally {
          diag.disable();
        }
      })();
      return stopped;
    },
  };
}

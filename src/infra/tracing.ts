import { type Attributes, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/**
 * Spans through the OpenTelemetry API. Until a tracer provider is registered (OTEL_EXPORTER_OTLP_ENDPOINT,
 * src/infra/telemetry.ts) the API's tracer is a no-op, so an instrumented call costs a function call.
 */
export const tracer = trace.getTracer('care-platform');

/** True when a provider records spans; callers skip building attributes otherwise. */
export function tracingActive(): boolean {
  return trace.getActiveSpan()?.isRecording() ?? false;
}

/**
 * Runs `fn` inside a child span of the active one (none when there is no active span and
 * `root` is not set), ending it with the outcome.
 */
export async function traced<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  options: { kind?: SpanKind; root?: boolean } = {},
): Promise<T> {
  if (!options.root && !tracingActive()) return fn();
  return tracer.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes }, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind };

import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from 'prom-client';
import { afterCommit } from './db/transaction-context.js';

/** What one label set of a `HotPathHistogram` counts. */
interface Series {
  labels: Record<string, string>;
  observer: SeriesObserver;
  /** Observations per bucket (not cumulative), in the order of the bucket bounds. */
  counts: number[];
  sum: number;
  count: number;
  /** Observed since the last reset: only these are exported, as prom-client does. */
  live: boolean;
}

/** A value as prom-client reports it: the registry turns these into exposition lines. */
interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  exemplar?: null;
}

/** Observes into one label set's counters. */
export interface SeriesObserver {
  observe(value: number): void;
}

/**
 * A histogram for observations made on every request or query. prom-client's `observe` validates
 * the labels and builds a string key from them on each call, about a microsecond, the largest cost
 * of a small request's metrics. Here `labels(...)` resolves a label set once to its counters
 * (callers keep what it returns), and an observation is a bucket search and three additions.
 *
 * It registers with a prom-client registry like any metric and reports its values in prom-client's
 * own shape, so `/metrics` shows exactly what a prom-client `Histogram` with the same name, labels,
 * buckets and observations would (test/platform/metrics.test.ts compares the two).
 */
export class HotPathHistogram<Label extends string = string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly Label[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(options: {
    name: string;
    help: string;
    labelNames: readonly Label[];
    buckets: readonly number[];
    registers: Registry[];
  }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    if (options.buckets.some((bound, i) => i > 0 && bound <= (options.buckets[i - 1] as number))) {
      throw new Error(`${this.name}: buckets must be in ascending order, got ${options.buckets.join(', ')}`);
    }
    this.#bounds = [...options.buckets];
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The observer of one label set, values in `labelNames` order (one map look-up once it exists). */
  labels(...values: string[]): SeriesObserver {
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
    return (this.#series.get(key) ?? this.#newSeries(key, values)).observer;
  }

  #newSeries(key: string, values: string[]): Series {
    if (values.length !== this.labelNames.length || values.some((value) => typeof value !== 'string')) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values (${this.labelNames.join(', ')})`);
    }
    const bounds = this.#bounds;
    const series: Series = {
      labels: Object.fromEntries(this.labelNames.map((name, i) => [name, values[i] as string])),
      counts: bounds.map(() => 0),
      sum: 0,
      count: 0,
      live: false,
      observer: {
        observe(value: number) {
          if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
          let bucket = 0;
          while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
          if (bucket < bounds.length) series.counts[bucket] = (series.counts[bucket] as number) + 1;
          series.sum += value;
          series.count += 1;
          series.live = true;
        },
      },
    };
    this.#series.set(key, series);
    return series;
  }

  /** prom-client's `observe(labels, value)`, for callers off the hot path. */
  observe(labels: Record<Label, string>, value: number): void {
    this.labels(...this.labelNames.map((name) => labels[name])).observe(value);
  }

  /** Forgets every observation; observers handed out stay valid. */
  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
      series.live = false;
    }
  }

  /** The registry's text exposition reads this (labels apart from `le` shared, as prom-client does). */
  async getForPromString() {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      if (!series.live) continue;
      const shared = series.labels;
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += series.counts[i] as number;
        values.push({
          labels: { le: bound },
          sharedLabels: shared,
          value: cumulative,
          metricName: bucketName,
          exemplar: null,
        });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: series.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.name}_count` },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (`registry.getMetricsAsJSON()`): each value's labels in one object. */
  async get() {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}

/**
 * Readings taken when Prometheus scrapes, from parts made after the metrics (the database, its
 * pool). Unset, their gauges have no value.
 */
export interface GaugeSources {
  /** Outbox messages due and not delivered yet, and how long the oldest of them has been due. */
  outboxBacklog?: () => Promise<{ due: number; oldestDueSeconds: number }>;
  /** Each PostgreSQL pool (primary, replica) right now: node-postgres `totalCount`, `idleCount`, `waitingCount`, `max`. */
  dbPools?: () => { pool: string; total: number; idle: number; waiting: number; max: number }[];
}

export const BOOKING_EVENTS = ['created', 'confirmed', 'cancelled', 'completed', 'no_show'] as const;
export type BookingEvent = (typeof BOOKING_EVENTS)[number];

/**
 * The business counters. Services call them at the line where the thing happened, usually inside
 * its transaction: the count is taken once that commits (at once outside a transaction), so a
 * rolled-back or retried transaction never counts.
 */
function createBusinessMetrics(registry: Registry) {
  const signups = new Counter({
    name: 'care_signups_total',
    help: 'Accounts created (sign-ups)',
    registers: [registry],
  });
  const bookings = new Counter({
    name: 'care_bookings_total',
    help: 'Bookings by event: created, confirmed (by the provider, on booking or once paid), cancelled, completed, no_show',
    labelNames: ['event'] as const,
    registers: [registry],
  });
  const paymentsCaptured = new Counter({
    name: 'care_payments_captured_total',
    help: 'Payments captured, by currency and purpose (booking, subscription)',
    labelNames: ['currency', 'purpose'] as const,
    registers: [registry],
  });
  const revenue = new Counter({
    name: 'care_revenue_minor_total',
    help: 'Amount captured, in minor units of its currency (cents, halalas), by currency and purpose',
    labelNames: ['currency', 'purpose'] as const,
    registers: [registry],
  });
  const subscriptions = new Counter({
    name: 'care_subscriptions_started_total',
    help: 'Premium plans bought: subscriptions that made their member Premium, by billing interval',
    labelNames: ['interval'] as const,
    registers: [registry],
  });
  // Every booking event exists from the start, so a rate over it is 0 rather than no data.
  for (const event of BOOKING_EVENTS) bookings.inc({ event }, 0);
  const onCommit = (count: () => void) => void afterCommit(count, () => {});
  return {
    signedUp: () => onCommit(() => signups.inc()),
    booking: (event: BookingEvent) => onCommit(() => bookings.inc({ event })),
    paymentCaptured: (payment: { currency: string; amountMinor: number; purpose: string }) =>
      onCommit(() => {
        const labels = { currency: payment.currency, purpose: payment.purpose };
        paymentsCaptured.inc(labels);
        revenue.inc(labels, payment.amountMinor);
      }),
    subscriptionStarted: (interval: string | null) =>
      onCommit(() => subscriptions.inc({ interval: interval ?? 'unknown' })),
  };
}

export type BusinessMetrics = ReturnType<typeof createBusinessMetrics>;

/** One registry per app instance, so several apps in one process (tests) never share counters. */
export function createMetrics() {
  const registry = new Registry();
  // Kept as a plain number on the hot path and read by the gauge only when scraped.
  const inFlight = { count: 0 };
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const sources: GaugeSources = {};
  return {
    registry,
    httpRequestDuration: new HotPathHistogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    inFlight,
    httpRequestsInFlight: new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being processed',
      registers: [registry],
      collect() {
        this.set(inFlight.count);
      },
    }),
    dbQueryDuration: new HotPathHistogram({
      name: 'db_query_duration_seconds',
      help: 'Database query duration by operation',
      labelNames: ['operation'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    dbSlowQueries: new Counter({
      name: 'db_slow_queries_total',
      help: 'Database queries slower than DB_SLOW_QUERY_MS, by operation',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    rateLimitRejections: new Counter({
      name: 'rate_limit_rejections_total',
      help: 'Requests rejected by the rate limiter, by preset',
      labelNames: ['preset'] as const,
      registers: [registry],
    }),
    securityEvents: new Counter({
      name: 'security_events_total',
      help: 'Security events recorded (attacks detected, failed sign-ins, blocks), by type and severity',
      labelNames: ['type', 'severity'] as const,
      registers: [registry],
    }),
    securityRefusals: new Counter({
      name: 'security_refusals_total',
      help: 'Requests refused by request inspection, by reason (ip_blocked, suspicious_input, scanner)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    passwordHashQueue: new Gauge({
      name: 'password_hash_queue_length',
      help: 'Password hashes and checks waiting for an argon2 slot',
      registers: [registry],
    }),
    cacheRequests: new Counter({
      name: 'cache_requests_total',
      help: 'Cache look-ups by cache name and result (hit or miss)',
      labelNames: ['cache', 'result'] as const,
      registers: [registry],
    }),
    overloadRejections: new Counter({
      name: 'overload_rejections_total',
      help: 'Requests answered 503 because the process was overloaded',
      registers: [registry],
    }),
    retentionDeleted: new Counter({
      name: 'retention_deleted_rows_total',
      help: 'Rows removed (or emptied) by the retention job, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    notificationsSent: new Counter({
      name: 'notifications_sent_total',
      help: 'Messages a channel accepted, by channel',
      labelNames: ['channel'] as const,
      registers: [registry],
    }),
    notificationsFailed: new Counter({
      name: 'notifications_failed_total',
      help: 'Messages a channel did not take, by channel and outcome (error: may be retried; refused: moved on; skipped: not allowed or not reachable)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
    }),
    notificationsDelivery: new Counter({
      name: 'notifications_delivery_status_total',
      help: "Delivery reports from a channel's provider (Twilio status callbacks), by channel and status",
      labelNames: ['channel', 'status'] as const,
      registers: [registry],
    }),
    notificationLatency: new Histogram({
      name: 'notification_send_latency_seconds',
      help: 'Time from a message being queued (or due) to its channel accepting it, by channel',
      labelNames: ['channel'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200],
      registers: [registry],
    }),
    liveConnections: new Gauge({
      name: 'live_connections',
      help: 'Open WebSocket connections on this instance (authenticated)',
      registers: [registry],
    }),
    liveMessages: new Counter({
      name: 'live_messages_total',
      help: 'Live messages written to sockets on this instance, and sockets closed, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    analyticsEvents: new Counter({
      name: 'analytics_events_total',
      help:
        'Product events by source (server, client) and outcome (stored, rejected, dropped_no_consent; deferred ' +
        'server events: dropped_overflow when the buffer was full, lost after the database refused them for a minute)',
      labelNames: ['source', 'outcome'] as const,
      registers: [registry],
    }),
    analyticsSanitised: new Counter({
      name: 'analytics_properties_sanitised_total',
      help: 'Event properties removed (personal or medical names), masked (personal-looking values) or undeclared (client events keep only declared properties)',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    outboxMessages: new Counter({
      name: 'outbox_messages_total',
      help: 'Outbox messages by type and event (queued, delivered, retried, deferred, dead)',
      labelNames: ['type', 'event'] as const,
      registers: [registry],
    }),
    paymentWebhooks: new Counter({
      name: 'payment_webhooks_total',
      help: 'Payment gateway webhooks by gateway and outcome (accepted, duplicate, bad_signature)',
      labelNames: ['gateway', 'outcome'] as const,
      registers: [registry],
    }),
    reconciliationMismatches: new Gauge({
      name: 'payments_reconciliation_mismatches',
      help: "Differences between the ledger and the gateway's balance transactions in the last reconciled day",
      labelNames: ['gateway'] as const,
      registers: [registry],
    }),
    sources,
    business: createBusinessMetrics(registry),
    outboxDue: new Gauge({
      name: 'outbox_due_messages',
      help: 'Outbox messages due and not yet delivered (pending or being delivered), read from the database at scrape',
      registers: [registry],
      async collect() {
        await readBacklog(this, sources, 'due');
      },
    }),
    outboxOldestDue: new Gauge({
      name: 'outbox_oldest_due_age_seconds',
      help: 'How long the oldest undelivered due outbox message has been due (0 when none is)',
      registers: [registry],
      async collect() {
        await readBacklog(this, sources, 'oldestDueSeconds');
      },
    }),
    dbPoolConnections: new Gauge({
      name: 'db_pool_connections',
      help: 'PostgreSQL connections by pool (primary, replica) and state: total (open), idle, waiting (queries queued for one), max (the pool size)',
      labelNames: ['pool', 'state'] as const,
      registers: [registry],
      collect() {
        for (const reading of sources.dbPools?.() ?? []) {
          for (const state of ['total', 'idle', 'waiting', 'max'] as const) {
            this.set({ pool: reading.pool, state }, reading[state]);
          }
        }
      },
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * One backlog reading per gauge (Prometheus scrapes both at once; the query is a count on an
 * index). A database that does not answer leaves the gauge without a value (NaN): the health
 * checks and their alerts speak for it.
 */
async function readBacklog(gauge: Gauge, sources: GaugeSources, field: 'due' | 'oldestDueSeconds'): Promise<void> {
  if (!sources.outboxBacklog) return;
  try {
    gauge.set((await sources.outboxBacklog())[field]);
  } catch {
    gauge.set(Number.NaN);
  }
}

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Every environment variable the app reads, in one schema. Parsed once at boot
 * (`loadConfig`); the rest of the code only ever sees the typed `Config`.
 */
const Int = (opts: { default: number; minimum?: number; maximum?: number; description: string }) =>
  Type.Integer({ minimum: 0, ...opts });

export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
    description: 'development | production | test',
  }),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'interface to listen on' }),
  PORT: Int({ default: 3000, maximum: 65535, description: 'TCP port to listen on' }),
  TRUST_PROXY: Type.String({
    default: 'false',
    pattern: '^(false|true|[0-9]{1,2}|[0-9a-fA-F:./]+(, *[0-9a-fA-F:./]+)*)$',
    description:
      'which X-Forwarded-For hops to trust for the client IP: false, a hop count (1 = one load balancer), ' +
      "or the proxies' addresses/CIDRs; true trusts any client-supplied value",
  }),
  DATA_DIR: Type.String({ default: './data', minLength: 1, description: 'embedded database (PGlite) directory' }),
  MEDIA_DIR: Type.String({
    default: './data/media',
    minLength: 1,
    description: 'where uploaded images and their variants are kept when S3_BUCKET is unset',
  }),
  MEDIA_MAX_BYTES: Int({
    default: 10 * 1024 * 1024,
    minimum: 1024,
    maximum: 100 * 1024 * 1024,
    description: 'largest image upload accepted (bytes); larger ones answer 413',
  }),
  S3_BUCKET: Type.Optional(
    Type.String({ minLength: 3, maxLength: 63, description: 'keep media in this S3 bucket instead of MEDIA_DIR' }),
  ),
  S3_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'an S3-compatible service (MinIO, R2, …); unset = AWS S3 in S3_REGION',
    }),
  ),
  S3_REGION: Type.String({ default: 'us-east-1', minLength: 1, description: "the bucket's region" }),
  S3_ACCESS_KEY_ID: Type.Optional(
    Type.String({ minLength: 1, description: 'S3 access key (unset: the AWS default chain)' }),
  ),
  S3_SECRET_ACCESS_KEY: Type.Optional(Type.String({ minLength: 1, description: 'S3 secret key' })),
  S3_FORCE_PATH_STYLE: Type.Boolean({
    default: true,
    description: 'address the bucket in the path (http://host/bucket/key), as most S3-compatible services need',
  }),
  PGLITE_SHARED_BUFFERS: Type.String({
    default: '16MB',
    pattern: '^[1-9][0-9]*(kB|MB|GB)$',
    description:
      "the embedded database's buffer cache (Postgres shared_buffers, e.g. 16MB, 128MB): more keeps more pages " +
      'in its own memory, less leaves them to the OS page cache; ignored on PostgreSQL',
  }),
  DATABASE_URL: Type.Optional(
    Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL URL; unset = embedded PGlite' }),
  ),
  DATABASE_POOL_MAX: Int({ default: 10, minimum: 1, maximum: 1000, description: 'node-postgres pool size' }),
  MIGRATE_ON_START: Type.Boolean({
    default: true,
    description:
      'apply pending migrations at boot (under an advisory lock); false = only check, and refuse to start ' +
      'when the database is behind (run node dist/migrate.js as a deploy step; the app user then needs no DDL rights)',
  }),
  DATABASE_READ_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'PostgreSQL read replica URL for search, slots, content lists and reports; unset = the primary',
    }),
  ),
  DB_SLOW_QUERY_MS: Int({
    default: 500,
    description: 'queries slower than this are logged (statement, never parameters) and counted; 0 = off',
  }),
  DB_CONNECT_TIMEOUT_MS: Int({
    default: 2000,
    minimum: 100,
    description: 'how long a request waits for a PostgreSQL connection before answering 503',
  }),
  DB_STATEMENT_TIMEOUT_MS: Int({
    default: 30_000,
    description: 'PostgreSQL statement_timeout for app queries; 0 = none',
  }),
  REDIS_URL: Type.Optional(
    Type.String({
      pattern: '^(rediss?|redis\\+sentinel|redis\\+cluster|rediss\\+cluster)://',
      description:
        'Redis URL (redis://, rediss://, redis+sentinel://host:26379,host2:26379/master-name, ' +
        'redis+cluster://host:6379,host2:6379); unset = in-memory counters and cache',
    }),
  ),
  REDIS_KEY_PREFIX: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_.:-]{1,64}$',
      description: "namespace of every Redis key and channel; unset = care:<the database's deployment id>:",
    }),
  ),
  SENTRY_DSN: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'Sentry DSN: 5xx and unhandled errors are reported; unset = off',
    }),
  ),
  SENTRY_ENVIRONMENT: Type.Optional(Type.String({ minLength: 1, description: 'Sentry environment; unset = NODE_ENV' })),
  SENTRY_SAMPLE_RATE: Type.Number({
    default: 1,
    minimum: 0,
    maximum: 1,
    description: 'share of errors sent to Sentry',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(
    Type.String({
      pattern: '^https?://',
      description: 'OTLP/HTTP collector base URL (traces go to <url>/v1/traces); unset = tracing off',
    }),
  ),
  OTEL_SERVICE_NAME: Type.String({ default: 'care-platform', minLength: 1, description: 'service.name of spans' }),
  OTEL_TRACES_SAMPLER_ARG: Type.Number({
    default: 1,
    minimum: 0,
    maximum: 1,
    description: 'share of traces sampled (parent-based ratio)',
  }),
  BACKUP_DIR: Type.String({ default: './backups', minLength: 1, description: 'where npm run backup writes' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    { default: 'info', description: 'pino log level' },
  ),
  CORS_ORIGINS: Type.String({
    default: '',
    description: 'comma-separated allowed origins; empty = no cross-origin access; * = any origin without credentials',
  }),
  BODY_LIMIT_BYTES: Int({ default: 1_048_576, minimum: 1024, description: 'largest accepted request body' }),
  RATE_LIMIT_ENABLED: Type.Boolean({ default: true, description: 'turn rate limiting on or off' }),
  RATE_LIMIT_WINDOW_MS: Int({ default: 900_000, minimum: 1000, description: 'rate-limit window' }),
  RATE_LIMIT_ANON_MAX: Int({ default: 100, minimum: 1, description: 'requests per window per IP (anonymous)' }),
  RATE_LIMIT_USER_MAX: Int({ default: 1000, minimum: 1, description: 'requests per window per signed-in user' }),
  RATE_LIMIT_SENSITIVE_MAX: Int({
    default: 10,
    minimum: 1,
    description: 'requests per window per IP on sensitive routes (login, signup, reset)',
  }),
  COMPRESSION_THRESHOLD_BYTES: Int({ default: 1024, description: 'compress responses larger than this' }),
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: Int({
    default: 1000,
    description: 'p99 event-loop delay over which requests get 503; 0 = off',
  }),
  OVERLOAD_MAX_HEAP_USED_BYTES: Int({ default: 0, description: 'heap used over which requests get 503; 0 = off' }),
  SHUTDOWN_TIMEOUT_MS: Int({ default: 10_000, minimum: 100, description: 'time in-flight requests get on shutdown' }),
  SHUTDOWN_DRAIN_DELAY_MS: Int({
    default: 0,
    maximum: 60_000,
    description:
      'on SIGTERM, how long the instance keeps serving with readiness off (answers say Connection: close) ' +
      'before it stops accepting, so a load balancer that polls readiness moves traffic first',
  }),
  JWT_SECRET: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'HMAC key for access tokens (required in production; a random one per process otherwise)',
    }),
  ),
  ACCESS_TOKEN_TTL_SECONDS: Int({ default: 900, minimum: 60, maximum: 86_400, description: 'access token lifetime' }),
  REFRESH_TOKEN_TTL_DAYS: Int({ default: 30, minimum: 1, maximum: 365, description: 'absolute session lifetime' }),
  HEALTH_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'bearer token that shows health components to a monitor' }),
  ),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'bearer token required by /metrics' })),
  OUTBOX_POLL_INTERVAL_MS: Int({ default: 1000, minimum: 10, description: 'outbox dispatcher idle poll interval' }),
  OUTBOX_BATCH_SIZE: Int({ default: 20, minimum: 1, maximum: 500, description: 'rows claimed per dispatcher pass' }),
  OUTBOX_MAX_ATTEMPTS: Int({ default: 8, minimum: 1, maximum: 50, description: 'attempts before a row is dead' }),
  OUTBOX_BACKOFF_BASE_MS: Int({ default: 60_000, minimum: 1, description: 'first retry delay (doubles, jittered)' }),
  OUTBOX_BACKOFF_MAX_MS: Int({ default: 18_000_000, minimum: 1, description: 'longest retry delay' }),
  OUTBOX_LEASE_MS: Int({ default: 60_000, minimum: 1000, description: 'how long a claimed row stays claimed' }),
  WORKERS_ENABLED: Type.Boolean({ default: true, description: 'run background workers in this process' }),
  SEED_DEMO_DATA: Type.Boolean({
    default: true,
    description: 'seed demo data on first start of an empty embedded database (never in production)',
  }),
  SEED_ANALYTICS_HISTORY: Type.Optional(
    Type.Boolean({
      description:
        'with the demo data, seed a synthetic analytics history (300 made-up people over 90 days, every event marked synthetic); default true, false when NODE_ENV=test',
    }),
  ),
  PUBLIC_APP_URL: Type.String({
    default: 'http://localhost:3000',
    pattern: '^https?://[^\\s]+$',
    description: 'base URL of the web app, for links in messages (password reset)',
  }),
  N8N_WEBHOOK_URL: Type.Optional(
    Type.String({ pattern: '^https?://', description: 'n8n webhook for WhatsApp messages; unset = not configured' }),
  ),
  N8N_WEBHOOK_SECRET: Type.Optional(
    Type.String({ minLength: 16, description: 'HMAC-SHA256 key that signs n8n webhook calls (X-Signature)' }),
  ),
  N8N_TIMEOUT_MS: Int({ default: 10_000, minimum: 100, maximum: 120_000, description: 'n8n webhook call timeout' }),
  SMTP_URL: Type.Optional(
    Type.String({
      pattern: '^smtps?://',
      description: 'SMTP server, e.g. smtp://user:pass@host:587; unset = not configured',
    }),
  ),
  EMAIL_FROM: Type.String({
    default: 'Care Platform <no-reply@care.local>',
    minLength: 3,
    description: 'From address of outgoing email',
  }),
  NOTIFICATIONS_WEEKLY_CAP: Int({
    default: 14,
    minimum: 1,
    maximum: 1000,
    description: 'non-urgent messages per user per 7 days; more are cancelled',
  }),
  REMINDERS_POLL_INTERVAL_MS: Int({
    default: 30_000,
    minimum: 100,
    description: 'how often the reminder scheduler looks for due reminders',
  }),
  RETENTION_INTERVAL_MS: Int({ default: 3_600_000, minimum: 1000, description: 'how often the retention job runs' }),
  RETENTION_SESSIONS_DAYS: Int({
    default: 30,
    minimum: 1,
    description: 'days an expired or revoked session is kept before deletion',
  }),
  RETENTION_RESET_TOKENS_DAYS: Int({
    default: 1,
    minimum: 1,
    description: 'days an expired or used reset token is kept',
  }),
  RETENTION_OUTBOX_DAYS: Int({ default: 30, minimum: 1, description: 'days a delivered outbox row is kept' }),
  RETENTION_DEAD_OUTBOX_DAYS: Int({ default: 90, minimum: 1, description: 'days a dead outbox row is kept' }),
  RETENTION_NOTIFICATIONS_DAYS: Int({
    default: 180,
    minimum: 1,
    description: 'days a finished notification (sent, cancelled, dead) is kept',
  }),
  RETENTION_EXPORTS_DAYS: Int({ default: 7, minimum: 1, description: 'days a data export stays downloadable' }),
  RETENTION_ANALYTICS_RAW_DAYS: Int({
    default: 90,
    minimum: 1,
    description: 'days raw product events are kept before they are rolled up into daily counts',
  }),
  GOOGLE_SHEETS_ID: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'spreadsheet the daily metrics rows are appended to; unset = sync off (not_configured)',
    }),
  ),
  GOOGLE_SHEETS_SHEET_NAME: Type.String({
    default: 'Daily',
    minLength: 1,
    maxLength: 100,
    description: 'tab of the spreadsheet that gets the rows (it must exist)',
  }),
  GOOGLE_SERVICE_ACCOUNT_JSON: Type.Optional(
    Type.String({ minLength: 2, description: 'the service account key file (JSON) content' }),
  ),
  GOOGLE_SERVICE_ACCOUNT_EMAIL: Type.Optional(
    Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$', description: 'service account email (instead of the key file)' }),
  ),
  GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY: Type.Optional(
    Type.String({
      minLength: 32,
      description: 'service account PEM private key (instead of the key file; \\n allowed)',
    }),
  ),
  GOOGLE_SHEETS_ROOT_URL: Type.String({
    default: 'https://sheets.googleapis.com/',
    pattern: '^https?://[^\\s]+$',
    description: 'Sheets API root URL',
  }),
  GOOGLE_TOKEN_URL: Type.String({
    default: 'https://oauth2.googleapis.com/token',
    pattern: '^https?://[^\\s]+$',
    description: 'OAuth token endpoint the service account exchanges its signed JWT at',
  }),
  SHEETS_SYNC_INTERVAL_MS: Int({ default: 3_600_000, minimum: 1000, description: 'how often the Sheets sync runs' }),
  SHEETS_SYNC_BACKFILL_DAYS: Int({
    default: 7,
    minimum: 1,
    maximum: 366,
    description: 'complete days the first Sheets sync pass appends',
  }),
  SHEETS_SYNC_MAX_ATTEMPTS: Int({
    default: 3,
    minimum: 1,
    maximum: 10,
    description: 'tries per Sheets sync pass when Google answers 429/5xx or does not answer',
  }),
  SHEETS_SYNC_RETRY_BASE_MS: Int({
    default: 1000,
    minimum: 1,
    maximum: 60_000,
    description: 'first retry delay of a Sheets sync pass (doubles per try)',
  }),
  SHEETS_SYNC_TIMEOUT_MS: Int({
    default: 15_000,
    minimum: 100,
    maximum: 120_000,
    description: 'timeout of one Google API call',
  }),
  COMMISSION_RATE_BPS: Int({
    default: 1000,
    maximum: 10_000,
    description: 'platform commission on a paid booking, in basis points (1000 = 10%); admins override it per category',
  }),
  PAYMENT_HOLD_MINUTES: Int({
    default: 15,
    minimum: 1,
    maximum: 120,
    description: 'how long an unpaid booking holds its slot before it is released',
  }),
  STRIPE_SECRET_KEY: Type.Optional(
    Type.String({
      pattern: '^(sk|rk)_[A-Za-z0-9_]+$',
      description: 'Stripe secret key; unset = Stripe not configured',
    }),
  ),
  STRIPE_PUBLISHABLE_KEY: Type.Optional(
    Type.String({ pattern: '^pk_[A-Za-z0-9_]+$', description: 'Stripe publishable key, handed to clients' }),
  ),
  STRIPE_WEBHOOK_SECRET: Type.Optional(
    Type.String({ minLength: 8, description: 'signing secret (whsec_…) of the Stripe webhook endpoint' }),
  ),
  STRIPE_API_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s/]+(:[0-9]+)?/?$',
      description: 'another Stripe API host (stripe-mock, a test server); unset = api.stripe.com',
    }),
  ),
  STRIPE_PRICE_MONTHLY: Type.Optional(
    Type.String({ pattern: '^price_[A-Za-z0-9_]+$', description: 'Stripe price of the monthly Premium plan' }),
  ),
  STRIPE_PRICE_YEARLY: Type.Optional(
    Type.String({ pattern: '^price_[A-Za-z0-9_]+$', description: 'Stripe price of the yearly Premium plan' }),
  ),
  MOYASAR_SECRET_KEY: Type.Optional(
    Type.String({ pattern: '^sk_[A-Za-z0-9_]+$', description: 'Moyasar secret key (mada, Apple Pay, STC Pay in SAR)' }),
  ),
  MOYASAR_WEBHOOK_SECRET: Type.Optional(
    Type.String({ minLength: 8, description: 'the secret_token Moyasar sends in each webhook body' }),
  ),
  MOYASAR_API_URL: Type.String({
    default: 'https://api.moyasar.com',
    pattern: '^https?://[^\\s]+$',
    description: 'Moyasar API base URL',
  }),
  APPLE_PAY_DOMAIN_ASSOCIATION_FILE: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'path of the Apple Pay domain association file your gateway gives you, served at /.well-known/apple-developer-merchantid-domain-association',
    }),
  ),
  SUBSCRIPTION_GRACE_DAYS: Int({
    default: 7,
    maximum: 60,
    description: 'days a past-due Premium subscription keeps Premium before it lapses',
  }),
  RETENTION_FINANCIAL_YEARS: Int({
    default: 10,
    minimum: 1,
    maximum: 30,
    description: 'years payment records are kept (pseudonymised after erasure) for accounting law',
  }),
  PUBLIC_API_URL: Type.Optional(
    Type.String({
      pattern: '^https?://[^\\s]+$',
      description:
        'base URL of this API as the internet reaches it (webhook URLs given to Twilio, calendar feed addresses); unset = http://localhost:PORT',
    }),
  ),
  TWILIO_ACCOUNT_SID: Type.Optional(
    Type.String({ pattern: '^AC[0-9a-fA-F]{32}$', description: 'Twilio account SID; unset = SMS not configured' }),
  ),
  TWILIO_AUTH_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Twilio auth token (API calls and X-Twilio-Signature on callbacks)' }),
  ),
  TWILIO_FROM: Type.Optional(
    Type.String({ pattern: '^\\+[1-9][0-9]{7,14}$', description: 'E.164 number SMS are sent from' }),
  ),
  TWILIO_MESSAGING_SERVICE_SID: Type.Optional(
    Type.String({
      pattern: '^MG[0-9a-fA-F]{32}$',
      description: 'Twilio messaging service SID (instead of TWILIO_FROM)',
    }),
  ),
  TWILIO_API_URL: Type.String({
    default: 'https://api.twilio.com',
    pattern: '^https?://[^\\s]+$',
    description: 'Twilio REST API base URL',
  }),
  FCM_PROJECT_ID: Type.Optional(
    Type.String({ pattern: '^[a-z][a-z0-9-]{3,62}$', description: 'Firebase project id; unset = FCM not configured' }),
  ),
  FCM_SERVICE_ACCOUNT_JSON: Type.Optional(
    Type.String({ minLength: 2, description: 'the Firebase service-account key (JSON text) that sends FCM messages' }),
  ),
  FCM_API_URL: Type.String({
    default: 'https://fcm.googleapis.com',
    pattern: '^https?://[^\\s]+$',
    description: 'FCM HTTP v1 API base URL',
  }),
  VAPID_PUBLIC_KEY: Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9_-]{80,100}$', description: 'Web Push VAPID public key (base64url)' }),
  ),
  VAPID_PRIVATE_KEY: Type.Optional(
    Type.String({ pattern: '^[A-Za-z0-9_-]{40,50}$', description: 'Web Push VAPID private key (base64url)' }),
  ),
  VAPID_SUBJECT: Type.String({
    default: 'mailto:no-reply@care.local',
    pattern: '^(mailto:|https://)[^\\s]+$',
    description: 'VAPID contact (mailto: or https: URL) push services may reach you at',
  }),
  CHANNEL_TIMEOUT_MS: Int({
    default: 10_000,
    minimum: 100,
    maximum: 120_000,
    description: 'timeout of one Twilio, FCM or Web Push call',
  }),
  LIVE_HEARTBEAT_MS: Int({
    default: 30_000,
    minimum: 50,
    maximum: 600_000,
    description: 'WebSocket ping interval; a socket that misses a pong by the next ping is closed',
  }),
  LIVE_AUTH_TIMEOUT_MS: Int({
    default: 10_000,
    minimum: 50,
    maximum: 120_000,
    description: 'time a new WebSocket has to send its auth message',
  }),
  LIVE_MAX_CONNECTIONS_PER_USER: Int({
    default: 5,
    minimum: 1,
    maximum: 100,
    description: 'open WebSockets per person on one instance; one more is refused',
  }),
  LIVE_MAX_BUFFERED_BYTES: Int({
    default: 1_048_576,
    minimum: 1024,
    description: 'bytes queued for a slow WebSocket client before it is dropped',
  }),
  SECURITY_INSPECTION: Type.Union([Type.Literal('block'), Type.Literal('monitor'), Type.Literal('off')], {
    default: 'block',
    description: 'request inspection: block (refuse attacks, score and block addresses), monitor (record only) or off',
  }),
  SECURITY_ALLOWLIST: Type.String({
    default: '',
    pattern: '^([0-9a-fA-F:.]+(/[0-9]{1,3})?( *, *[0-9a-fA-F:.]+(/[0-9]{1,3})?)*)?$',
    description: 'comma-separated addresses or CIDRs never scored or blocked (monitors, offices)',
  }),
  IPV6_PREFIX_LENGTH: Int({
    default: 64,
    minimum: 32,
    maximum: 128,
    description: 'IPv6 clients are grouped by this prefix for rate limits, scores and blocks',
  }),
  SECURITY_BLOCK_SCORE: Int({
    default: 100,
    minimum: 1,
    description: 'score (decaying, half-life 5 minutes) at which an address is blocked',
  }),
  SECURITY_BLOCK_MINUTES: Type.String({
    default: '15,60,1440',
    pattern: '^[0-9]{1,6}( *, *[0-9]{1,6})*$',
    description: "an address's successive block durations in minutes; the last repeats",
  }),
  SECURITY_EVENT_RETENTION_DAYS: Int({
    default: 90,
    minimum: 1,
    maximum: 3650,
    description: 'days security events and lifted blocks are kept',
  }),
  SECURITY_ALERT_DIGEST_MINUTES: Int({
    default: 15,
    minimum: 1,
    maximum: 1440,
    description: 'after an alert, further critical events wait this long and go out as one digest',
  }),
  SECURITY_BURST_EVENTS: Int({
    default: 50,
    minimum: 1,
    description: 'security events in one minute that raise a burst alert',
  }),
  SECURITY_ALERT_WEBHOOK_URL: Type.Optional(
    Type.String({ pattern: '^https?://[^\\s]+$', description: 'signed webhook that receives security alerts' }),
  ),
  SECURITY_ALERT_WEBHOOK_SECRET: Type.Optional(
    Type.String({ minLength: 16, description: 'HMAC key signing security alert webhooks (X-Signature)' }),
  ),
  LOGIN_DELAY_BASE_MS: Int({
    default: 250,
    maximum: 10_000,
    description: 'delay after the 2nd failed sign-in of an account or address; doubles per failure',
  }),
  LOGIN_DELAY_MAX_MS: Int({ default: 5000, maximum: 60_000, description: 'longest delay after a failed sign-in' }),
  PASSWORD_HASH_CONCURRENCY: Int({
    default: 0,
    maximum: 64,
    description: 'argon2 hashes computed at once; 0 = one less than the CPU count (at least 1)',
  }),
  PASSWORD_HASH_QUEUE: Int({
    default: 64,
    minimum: 1,
    description: 'password checks waiting for a slot before sign-ins get 503',
  }),
  DOCS_ENABLED: Type.Optional(
    Type.Boolean({ description: 'serve /docs and /docs/json; default true, false in production' }),
  ),
  PAYMENTS_RECONCILE_INTERVAL_MS: Int({
    default: 86_400_000,
    minimum: 1000,
    description: 'how often the ledger is reconciled with the gateways (the previous UTC day)',
  }),
});

export type Env = Static<typeof EnvSchema>;

export interface SecurityConfig {
  inspection: 'block' | 'monitor' | 'off';
  allowlist: string[];
  ipv6PrefixLength: number;
  blockScore: number;
  blockMinutes: number[];
  eventRetentionDays: number;
  alertDigestMs: number;
  burstEvents: number;
  alertWebhook?: { url: string; secret: string };
  loginDelayBaseMs: number;
  loginDelayMaxMs: number;
  passwordHashConcurrency: number;
  passwordHashQueue: number;
}

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  isTest: boolean;
  host: string;
  port: number;
  trustProxy: boolean | number | string[];
  dataDir: string;
  databaseUrl?: string;
  databasePoolMax: number;
  pgliteSharedBuffers: string;
  media: {
    dir: string;
    maxBytes: number;
    s3?: {
      bucket: string;
      endpoint?: string;
      region: string;
      accessKeyId?: string;
      secretAccessKey?: string;
      forcePathStyle: boolean;
    };
  };
  databaseReadUrl?: string;
  migrateOnStart: boolean;
  db: { slowQueryMs: number; connectTimeoutMs: number; statementTimeoutMs: number };
  redisKeyPrefix?: string;
  sentry?: { dsn: string; environment: string; sampleRate: number };
  otel?: { endpoint: string; serviceName: string; sampleRatio: number };
  backupDir: string;
  isPostgres: boolean;
  redisUrl?: string;
  isRedisConfigured: boolean;
  logLevel: string;
  corsOrigins: string[];
  bodyLimitBytes: number;
  rateLimit: { enabled: boolean; windowMs: number; anonMax: number; userMax: number; sensitiveMax: number };
  compressionThresholdBytes: number;
  overload: { maxEventLoopDelayMs: number; maxHeapUsedBytes: number };
  shutdownTimeoutMs: number;
  shutdownDrainDelayMs: number;
  metricsToken?: string;
  healthToken?: string;
  /** /docs and /docs/json are served (default: everywhere but production). */
  docsEnabled: boolean;
  security: SecurityConfig;
  auth: { jwtSecret: string; jwtSecretGenerated: boolean; accessTokenTtlSeconds: number; refreshTokenTtlDays: number };
  outbox: {
    pollIntervalMs: number;
    batchSize: number;
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    leaseMs: number;
  };
  workersEnabled: boolean;
  seedDemoData: boolean;
  /** Whether the demo data includes the synthetic analytics history. */
  seedAnalyticsHistory: boolean;
  publicAppUrl: string;
  notifications: {
    n8n?: { url: string; secret: string; timeoutMs: number };
    smtp?: { url: string; from: string };
    twilio?: {
      accountSid: string;
      authToken: string;
      from?: string;
      messagingServiceSid?: string;
      apiUrl: string;
      statusCallbackUrl: string;
      timeoutMs: number;
    };
    fcm?: { projectId: string; serviceAccountJson: string; apiUrl: string; timeoutMs: number };
    vapid?: { publicKey: string; privateKey: string; subject: string; timeoutMs: number };
    emailFrom: string;
    weeklyCap: number;
  };
  /** Base URL of this API as the internet reaches it (webhook URLs), without a trailing slash. */
  publicApiUrl: string;
  live: {
    heartbeatMs: number;
    authTimeoutMs: number;
    maxConnectionsPerUser: number;
    maxBufferedBytes: number;
  };
  remindersPollIntervalMs: number;
  retention: {
    intervalMs: number;
    sessionsDays: number;
    resetTokensDays: number;
    outboxDays: number;
    deadOutboxDays: number;
    notificationsDays: number;
    exportsDays: number;
    analyticsRawDays: number;
  };
  /** Google Sheets daily metrics sync; undefined = not configured (GOOGLE_SHEETS_ID unset). */
  sheetsSync?: SheetsSyncConfig;
  payments: PaymentsConfig;
}

export interface PaymentsConfig {
  commissionRateBps: number;
  holdMinutes: number;
  subscriptionGraceDays: number;
  financialRetentionYears: number;
  reconcileIntervalMs: number;
  /** The Apple Pay domain association file's contents (APPLE_PAY_DOMAIN_ASSOCIATION_FILE). */
  applePayDomainAssociation?: string;
  /** Stripe; undefined without STRIPE_SECRET_KEY. */
  stripe?: {
    secretKey: string;
    publishableKey?: string;
    webhookSecret?: string;
    /** host/port/protocol for the official SDK when STRIPE_API_URL points elsewhere. */
    api?: { host: string; port: number; protocol: 'http' | 'https' };
    prices: { monthly?: string; yearly?: string };
  };
  /** Moyasar; undefined without MOYASAR_SECRET_KEY. */
  moyasar?: { secretKey: string; webhookSecret?: string; apiUrl: string };
}

export interface SheetsSyncConfig {
  spreadsheetId: string;
  sheetName: string;
  credentials: { clientEmail: string; privateKey: string };
  rootUrl: string;
  tokenUrl: string;
  intervalMs: number;
  backfillDays: number;
  maxAttempts: number;
  retryBaseMs: number;
  timeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses `env` (default `process.env`); throws ConfigError with one line naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(EnvSchema.properties);
  const input: Record<string, unknown> = {};
  for (const key of known) {
    const raw = env[key];
    if (raw !== undefined && raw !== '') input[key] = raw.trim();
  }
  const withDefaults = Value.Default(EnvSchema, input);
  const converted = Value.Convert(EnvSchema, withDefaults) as Record<string, unknown>;
  const firstError = Value.Errors(EnvSchema, converted).First();
  if (firstError) {
    const name = firstError.path.replace(/^\//, '');
    const schema = (EnvSchema.properties as Record<string, { description?: string; anyOf?: { const: string }[] }>)[
      name
    ];
    const expected = schema?.anyOf
      ? `must be one of ${schema.anyOf.map((option) => option.const).join(', ')}`
      : firstError.message.toLowerCase();
    // Secrets and URLs (which may hold passwords) are named, never echoed.
    const shown = /TOKEN|SECRET|PASSWORD|PRIVATE_KEY|_JSON$|_URL$/.test(name) ? '' : `=${JSON.stringify(input[name])}`;
    throw new ConfigError(
      `Invalid configuration: ${name}${shown} ${expected}${schema?.description ? ` (${schema.description})` : ''}`,
    );
  }
  const e = converted as Env;
  if (e.NODE_ENV === 'production' && !e.JWT_SECRET) {
    throw new ConfigError(
      'Invalid configuration: JWT_SECRET is required when NODE_ENV=production (at least 32 characters)',
    );
  }
  if (e.DATABASE_READ_URL && !e.DATABASE_URL) {
    throw new ConfigError('Invalid configuration: DATABASE_READ_URL needs DATABASE_URL (a replica of which primary?)');
  }
  if ((e.N8N_WEBHOOK_URL === undefined) !== (e.N8N_WEBHOOK_SECRET === undefined)) {
    throw new ConfigError(
      'Invalid configuration: N8N_WEBHOOK_URL and N8N_WEBHOOK_SECRET are set together (webhook calls are always signed)',
    );
  }
  const together = (names: (keyof Env)[], why: string) => {
    const set = names.filter((name) => e[name] !== undefined);
    if (set.length > 0 && set.length < names.length) {
      throw new ConfigError(`Invalid configuration: ${names.join(', ')} are set together (${why})`);
    }
  };
  together(['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN'], 'API calls and callback signatures need both');
  if (e.TWILIO_ACCOUNT_SID && !e.TWILIO_FROM && !e.TWILIO_MESSAGING_SERVICE_SID) {
    throw new ConfigError(
      'Invalid configuration: TWILIO_ACCOUNT_SID needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID',
    );
  }
  together(['FCM_PROJECT_ID', 'FCM_SERVICE_ACCOUNT_JSON'], 'FCM sends need the project and its service account');
  together(['VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY'], 'Web Push signs with the pair');
  together(['SECURITY_ALERT_WEBHOOK_URL', 'SECURITY_ALERT_WEBHOOK_SECRET'], 'alert webhooks are always signed');
  if (e.NODE_ENV === 'production') {
    // A payment whose outcome could never be verified must not be taken.
    if (e.STRIPE_SECRET_KEY && !e.STRIPE_WEBHOOK_SECRET) {
      throw new ConfigError('Invalid configuration: STRIPE_SECRET_KEY needs STRIPE_WEBHOOK_SECRET in production');
    }
    if (e.MOYASAR_SECRET_KEY && !e.MOYASAR_WEBHOOK_SECRET) {
      throw new ConfigError('Invalid configuration: MOYASAR_SECRET_KEY needs MOYASAR_WEBHOOK_SECRET in production');
    }
  }
  const publicApiUrl = (e.PUBLIC_API_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  let applePayDomainAssociation: string | undefined;
  if (e.APPLE_PAY_DOMAIN_ASSOCIATION_FILE) {
    try {
      applePayDomainAssociation = readFileSync(e.APPLE_PAY_DOMAIN_ASSOCIATION_FILE, 'utf8');
    } catch {
      throw new ConfigError(
        `Invalid configuration: APPLE_PAY_DOMAIN_ASSOCIATION_FILE=${JSON.stringify(e.APPLE_PAY_DOMAIN_ASSOCIATION_FILE)} cannot be read`,
      );
    }
  }
  const sheetsCredentials = serviceAccountCredentials(e);
  if (e.GOOGLE_SHEETS_ID && !sheetsCredentials) {
    throw new ConfigError(
      'Invalid configuration: GOOGLE_SHEETS_ID needs service account credentials: GOOGLE_SERVICE_ACCOUNT_JSON, ' +
        'or GOOGLE_SERVICE_ACCOUNT_EMAIL and GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY',
    );
  }
  const corsOrigins = e.CORS_ORIGINS.split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of corsOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        `Invalid configuration: CORS_ORIGINS contains ${JSON.stringify(origin)}, expected scheme://host[:port] or *`,
      );
    }
  }
  return {
    env: e.NODE_ENV,
    isProduction: e.NODE_ENV === 'production',
    isTest: e.NODE_ENV === 'test',
    host: e.HOST,
    port: e.PORT,
    trustProxy:
      e.TRUST_PROXY === 'false'
        ? false
        : e.TRUST_PROXY === 'true'
          ? true
          : /^[0-9]+$/.test(e.TRUST_PROXY)
            ? Number(e.TRUST_PROXY)
            : e.TRUST_PROXY.split(',').map((entry) => entry.trim()),
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    pgliteSharedBuffers: e.PGLITE_SHARED_BUFFERS,
    media: {
      dir: e.MEDIA_DIR,
      maxBytes: e.MEDIA_MAX_BYTES,
      ...(e.S3_BUCKET
        ? {
            s3: {
              bucket: e.S3_BUCKET,
              endpoint: e.S3_ENDPOINT,
              region: e.S3_REGION,
              accessKeyId: e.S3_ACCESS_KEY_ID,
              secretAccessKey: e.S3_SECRET_ACCESS_KEY,
              forcePathStyle: e.S3_FORCE_PATH_STYLE,
            },
          }
        : {}),
    },
    databaseReadUrl: e.DATABASE_READ_URL,
    migrateOnStart: e.MIGRATE_ON_START,
    db: {
      slowQueryMs: e.DB_SLOW_QUERY_MS,
      connectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    },
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    sentry: e.SENTRY_DSN
      ? { dsn: e.SENTRY_DSN, environment: e.SENTRY_ENVIRONMENT ?? e.NODE_ENV, sampleRate: e.SENTRY_SAMPLE_RATE }
      : undefined,
    otel: e.OTEL_EXPORTER_OTLP_ENDPOINT
      ? {
          endpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, ''),
          serviceName: e.OTEL_SERVICE_NAME,
          sampleRatio: e.OTEL_TRACES_SAMPLER_ARG,
        }
      : undefined,
    backupDir: e.BACKUP_DIR,
    isPostgres: e.DATABASE_URL !== undefined,
    redisUrl: e.REDIS_URL,
    isRedisConfigured: e.REDIS_URL !== undefined,
    logLevel: e.LOG_LEVEL,
    corsOrigins,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED,
      windowMs: e.RATE_LIMIT_WINDOW_MS,
      anonMax: e.RATE_LIMIT_ANON_MAX,
      userMax: e.RATE_LIMIT_USER_MAX,
      sensitiveMax: e.RATE_LIMIT_SENSITIVE_MAX,
    },
    compressionThresholdBytes: e.COMPRESSION_THRESHOLD_BYTES,
    overload: {
      maxEventLoopDelayMs: e.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: e.OVERLOAD_MAX_HEAP_USED_BYTES,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainDelayMs: e.SHUTDOWN_DRAIN_DELAY_MS,
    metricsToken: e.METRICS_TOKEN,
    healthToken: e.HEALTH_TOKEN,
    docsEnabled: e.DOCS_ENABLED ?? e.NODE_ENV !== 'production',
    security: {
      inspection: e.SECURITY_INSPECTION,
      allowlist: e.SECURITY_ALLOWLIST.split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
      ipv6PrefixLength: e.IPV6_PREFIX_LENGTH,
      blockScore: e.SECURITY_BLOCK_SCORE,
      blockMinutes: e.SECURITY_BLOCK_MINUTES.split(',').map((minutes) => Number(minutes.trim())),
      eventRetentionDays: e.SECURITY_EVENT_RETENTION_DAYS,
      alertDigestMs: e.SECURITY_ALERT_DIGEST_MINUTES * 60_000,
      burstEvents: e.SECURITY_BURST_EVENTS,
      alertWebhook:
        e.SECURITY_ALERT_WEBHOOK_URL && e.SECURITY_ALERT_WEBHOOK_SECRET
          ? { url: e.SECURITY_ALERT_WEBHOOK_URL, secret: e.SECURITY_ALERT_WEBHOOK_SECRET }
          : undefined,
      loginDelayBaseMs: e.LOGIN_DELAY_BASE_MS,
      loginDelayMaxMs: e.LOGIN_DELAY_MAX_MS,
      passwordHashConcurrency: e.PASSWORD_HASH_CONCURRENCY || Math.max(1, availableParallelism() - 1),
      passwordHashQueue: e.PASSWORD_HASH_QUEUE,
    },
    auth: {
      jwtSecret: e.JWT_SECRET ?? randomBytes(32).toString('base64url'),
      jwtSecretGenerated: e.JWT_SECRET === undefined,
      accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlDays: e.REFRESH_TOKEN_TTL_DAYS,
    },
    outbox: {
      pollIntervalMs: e.OUTBOX_POLL_INTERVAL_MS,
      batchSize: e.OUTBOX_BATCH_SIZE,
      maxAttempts: e.OUTBOX_MAX_ATTEMPTS,
      backoffBaseMs: e.OUTBOX_BACKOFF_BASE_MS,
      backoffMaxMs: e.OUTBOX_BACKOFF_MAX_MS,
      leaseMs: e.OUTBOX_LEASE_MS,
    },
    workersEnabled: e.WORKERS_ENABLED,
    seedDemoData: e.SEED_DEMO_DATA,
    seedAnalyticsHistory: e.SEED_ANALYTICS_HISTORY ?? e.NODE_ENV !== 'test',
    publicAppUrl: e.PUBLIC_APP_URL.replace(/\/+$/, ''),
    notifications: {
      n8n:
        e.N8N_WEBHOOK_URL && e.N8N_WEBHOOK_SECRET
          ? { url: e.N8N_WEBHOOK_URL, secret: e.N8N_WEBHOOK_SECRET, timeoutMs: e.N8N_TIMEOUT_MS }
          : undefined,
      smtp: e.SMTP_URL ? { url: e.SMTP_URL, from: e.EMAIL_FROM } : undefined,
      twilio:
        e.TWILIO_ACCOUNT_SID && e.TWILIO_AUTH_TOKEN
          ? {
              accountSid: e.TWILIO_ACCOUNT_SID,
              authToken: e.TWILIO_AUTH_TOKEN,
              from: e.TWILIO_FROM,
              messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID,
              apiUrl: e.TWILIO_API_URL.replace(/\/+$/, ''),
              statusCallbackUrl: `${publicApiUrl}/api/v1/webhooks/twilio/status`,
              timeoutMs: e.CHANNEL_TIMEOUT_MS,
            }
          : undefined,
      fcm:
        e.FCM_PROJECT_ID && e.FCM_SERVICE_ACCOUNT_JSON
          ? {
              projectId: e.FCM_PROJECT_ID,
              serviceAccountJson: e.FCM_SERVICE_ACCOUNT_JSON,
              apiUrl: e.FCM_API_URL.replace(/\/+$/, ''),
              timeoutMs: e.CHANNEL_TIMEOUT_MS,
            }
          : undefined,
      vapid:
        e.VAPID_PUBLIC_KEY && e.VAPID_PRIVATE_KEY
          ? {
              publicKey: e.VAPID_PUBLIC_KEY,
              privateKey: e.VAPID_PRIVATE_KEY,
              subject: e.VAPID_SUBJECT,
              timeoutMs: e.CHANNEL_TIMEOUT_MS,
            }
          : undefined,
      emailFrom: e.EMAIL_FROM,
      weeklyCap: e.NOTIFICATIONS_WEEKLY_CAP,
    },
    publicApiUrl,
    live: {
      heartbeatMs: e.LIVE_HEARTBEAT_MS,
      authTimeoutMs: e.LIVE_AUTH_TIMEOUT_MS,
      maxConnectionsPerUser: e.LIVE_MAX_CONNECTIONS_PER_USER,
      maxBufferedBytes: e.LIVE_MAX_BUFFERED_BYTES,
    },
    remindersPollIntervalMs: e.REMINDERS_POLL_INTERVAL_MS,
    retention: {
      intervalMs: e.RETENTION_INTERVAL_MS,
      sessionsDays: e.RETENTION_SESSIONS_DAYS,
      resetTokensDays: e.RETENTION_RESET_TOKENS_DAYS,
      outboxDays: e.RETENTION_OUTBOX_DAYS,
      deadOutboxDays: e.RETENTION_DEAD_OUTBOX_DAYS,
      notificationsDays: e.RETENTION_NOTIFICATIONS_DAYS,
      exportsDays: e.RETENTION_EXPORTS_DAYS,
      analyticsRawDays: e.RETENTION_ANALYTICS_RAW_DAYS,
    },
    sheetsSync:
      e.GOOGLE_SHEETS_ID && sheetsCredentials
        ? {
            spreadsheetId: e.GOOGLE_SHEETS_ID,
            sheetName: e.GOOGLE_SHEETS_SHEET_NAME,
            credentials: sheetsCredentials,
            rootUrl: e.GOOGLE_SHEETS_ROOT_URL,
            tokenUrl: e.GOOGLE_TOKEN_URL,
            intervalMs: e.SHEETS_SYNC_INTERVAL_MS,
            backfillDays: e.SHEETS_SYNC_BACKFILL_DAYS,
            maxAttempts: e.SHEETS_SYNC_MAX_ATTEMPTS,
            retryBaseMs: e.SHEETS_SYNC_RETRY_BASE_MS,
            timeoutMs: e.SHEETS_SYNC_TIMEOUT_MS,
          }
        : undefined,
    payments: {
      commissionRateBps: e.COMMISSION_RATE_BPS,
      holdMinutes: e.PAYMENT_HOLD_MINUTES,
      subscriptionGraceDays: e.SUBSCRIPTION_GRACE_DAYS,
      financialRetentionYears: e.RETENTION_FINANCIAL_YEARS,
      reconcileIntervalMs: e.PAYMENTS_RECONCILE_INTERVAL_MS,
      applePayDomainAssociation,
      stripe: e.STRIPE_SECRET_KEY
        ? {
            secretKey: e.STRIPE_SECRET_KEY,
            publishableKey: e.STRIPE_PUBLISHABLE_KEY,
            webhookSecret: e.STRIPE_WEBHOOK_SECRET,
            api: e.STRIPE_API_URL ? stripeApiOf(e.STRIPE_API_URL) : undefined,
            prices: { monthly: e.STRIPE_PRICE_MONTHLY, yearly: e.STRIPE_PRICE_YEARLY },
          }
        : undefined,
      moyasar: e.MOYASAR_SECRET_KEY
        ? { secretKey: e.MOYASAR_SECRET_KEY, webhookSecret: e.MOYASAR_WEBHOOK_SECRET, apiUrl: e.MOYASAR_API_URL }
        : undefined,
    },
  };
}

/** STRIPE_API_URL as the SDK's host, port and protocol settings. */
function stripeApiOf(url: string): NonNullable<PaymentsConfig['stripe']>['api'] {
  const parsed = new URL(url);
  const protocol = parsed.protocol === 'http:' ? 'http' : 'https';
  return { host: parsed.hostname, port: Number(parsed.port || (protocol === 'http' ? 80 : 443)), protocol };
}

/**
 * The service account from the key file JSON or from the email + private key pair (one way, not
 * both); undefined when neither is set. Never echoes the values: they hold the private key.
 */
function serviceAccountCredentials(e: Env): SheetsSyncConfig['credentials'] | undefined {
  const pairSet = e.GOOGLE_SERVICE_ACCOUNT_EMAIL !== undefined || e.GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY !== undefined;
  if (e.GOOGLE_SERVICE_ACCOUNT_JSON !== undefined && pairSet) {
    throw new ConfigError(
      'Invalid configuration: set GOOGLE_SERVICE_ACCOUNT_JSON or GOOGLE_SERVICE_ACCOUNT_EMAIL + ' +
        'GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY, not both',
    );
  }
  if (e.GOOGLE_SERVICE_ACCOUNT_JSON !== undefined) {
    let key: { client_email?: unknown; private_key?: unknown } | undefined;
    try {
      key = JSON.parse(e.GOOGLE_SERVICE_ACCOUNT_JSON);
    } catch {
      key = undefined;
    }
    if (typeof key?.client_email !== 'string' || typeof key.private_key !== 'string') {
      throw new ConfigError(
        'Invalid configuration: GOOGLE_SERVICE_ACCOUNT_JSON must be a service account key file (JSON with client_email and private_key)',
      );
    }
    return { clientEmail: key.client_email, privateKey: key.private_key };
  }
  if (!pairSet) return undefined;
  if (e.GOOGLE_SERVICE_ACCOUNT_EMAIL === undefined || e.GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY === undefined) {
    throw new ConfigError(
      'Invalid configuration: GOOGLE_SERVICE_ACCOUNT_EMAIL and GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY are set together',
    );
  }
  // One-line env files carry the PEM's line breaks as "\n".
  return {
    clientEmail: e.GOOGLE_SERVICE_ACCOUNT_EMAIL,
    privateKey: e.GOOGLE_SERVICE_ACCOUNT_PRIVATE_KEY.replace(/\\n/g, '\n'),
  };
}

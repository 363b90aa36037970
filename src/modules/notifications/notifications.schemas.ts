import { Type } from '@sinclair/typebox';
import { DateTime, idPageQuery, Nullable } from '../../shared/http-schemas.js';

// Spelled out (not mapped from the tables' lists) so the static types are the literals.
const ChannelName = Type.Union([
  Type.Literal('whatsapp'),
  Type.Literal('email'),
  Type.Literal('sms'),
  Type.Literal('push'),
]);
const DeliveryStatus = Type.Union([
  Type.Literal('accepted'),
  Type.Literal('sent'),
  Type.Literal('delivered'),
  Type.Literal('undelivered'),
  Type.Literal('failed'),
]);
const Status = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sent'),
  Type.Literal('cancelled'),
  Type.Literal('dead'),
]);
const Purpose = Type.Union([
  Type.Literal('account'),
  Type.Literal('booking'),
  Type.Literal('reminder'),
  Type.Literal('promotion'),
]);

const LocalTime = Type.String({
  pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$',
  description: 'local time, 24-hour HH:MM',
  examples: ['21:00'],
});
const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/London' });

const ChannelSwitches = Type.Object(
  { whatsapp: Type.Boolean(), email: Type.Boolean(), sms: Type.Boolean(), push: Type.Boolean() },
  {
    additionalProperties: false,
    description:
      'false turns a channel off: its messages go to the next channel of their kind (account messages such as a password reset still go)',
  },
);
const ChannelSwitchesInput = Type.Object(
  {
    whatsapp: Type.Boolean(),
    email: Type.Boolean(),
    sms: Type.Optional(Type.Boolean({ default: true })),
    push: Type.Optional(Type.Boolean({ default: true })),
  },
  {
    additionalProperties: false,
    description: 'false turns a channel off; sms and push are on when absent',
  },
);
const QuietHours = Type.Object(
  { start: LocalTime, end: LocalTime },
  {
    additionalProperties: false,
    description: 'non-urgent messages wait until the end; start after end crosses midnight; equal = none',
  },
);

export const PreferencesSchema = Type.Object({
  channels: ChannelSwitches,
  quiet_hours: QuietHours,
  time_zone: Nullable(TimeZone),
  updated_at: Nullable(DateTime),
});

export const PutPreferencesBody = Type.Object(
  {
    channels: ChannelSwitchesInput,
    quiet_hours: QuietHours,
    time_zone: Type.Optional(Nullable(TimeZone)),
  },
  { additionalProperties: false },
);

export const AdminNotificationSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  user_id: Type.String({ format: 'uuid' }),
  channel: ChannelName,
  channels: Type.Array(ChannelName, { description: 'the channels tried, in order' }),
  fallbacks: Type.Array(Type.Object({ channel: ChannelName, reason: Type.String(), at: DateTime }), {
    description: 'channels passed over before `channel`, and why',
  }),
  // The provider's last delivery report (SMS status callbacks); null when it sends none.
  delivery_status: Nullable(DeliveryStatus),
  delivered_at: Nullable(DateTime),
  segments: Nullable(Type.Integer({ description: 'SMS segments billed' })),
  encoding: Nullable(Type.Union([Type.Literal('GSM-7'), Type.Literal('UCS-2')])),
  purpose: Purpose,
  template: Type.String(),
  urgent: Type.Boolean(),
  priority: Type.Boolean(),
  status: Status,
  cancel_reason: Nullable(Type.String()),
  attempts: Type.Integer(),
  last_error: Nullable(Type.String()),
  not_before: DateTime,
  created_at: DateTime,
  updated_at: DateTime,
  sent_at: Nullable(DateTime),
});

export const AdminNotificationsQuery = Type.Object(
  {
    status: Type.Optional(Status),
    channel: Type.Optional(ChannelName),
    ...idPageQuery(20),
  },
  { additionalProperties: false },
);

const Base64Url = (min: number, max: number, description: string) =>
  Type.String({ pattern: `^[A-Za-z0-9_-]{${min},${max}}={0,2}$`, description });

export const RegisterDeviceBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('fcm'), Type.Literal('webpush')], {
      description:
        'fcm: a Firebase registration token (token, platform); webpush: a browser subscription (endpoint, keys)',
    }),
    platform: Type.Optional(
      Type.Union([Type.Literal('android'), Type.Literal('ios'), Type.Literal('web')], {
        description: 'the device kind of an FCM token (webpush is always web)',
      }),
    ),
    token: Type.Optional(Type.String({ minLength: 20, maxLength: 4096, pattern: '^[A-Za-z0-9_:.-]{20,4096}$' })),
    endpoint: Type.Optional(
      Type.String({
        minLength: 12,
        maxLength: 2048,
        pattern: '^https?://[^\\s]{4,2040}$',
        description: "the subscription's endpoint (https in production)",
      }),
    ),
    keys: Type.Optional(
      Type.Object(
        {
          p256dh: Base64Url(80, 100, "the subscription's P-256 public key"),
          auth: Base64Url(16, 32, "the subscription's auth secret"),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { kind: 'fcm', platform: 'android', token: 'dXNlci1kZXZpY2UtdG9rZW4tZXhhbXBsZQ:APA91bH' },
      {
        kind: 'webpush',
        endpoint: 'https://fcm.googleapis.com/fcm/send/abc123',
        keys: {
          p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
          auth: 'tBHItJI5svbpez7KI4CCXg',
        },
      },
    ],
  },
);

export const DeviceSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  kind: Type.Union([Type.Literal('fcm'), Type.Literal('webpush')]),
  platform: Type.Union([Type.Literal('android'), Type.Literal('ios'), Type.Literal('web')]),
  label: Type.String({ description: 'the end of the token or endpoint' }),
  created_at: DateTime,
  last_used_at: Nullable(DateTime),
});

export const VapidKeySchema = Type.Object({
  public_key: Type.String({ description: 'the applicationServerKey for PushManager.subscribe (base64url)' }),
});

/** Twilio posts its form fields; the ones we read are named, the rest pass (they are signed too). */
export const TwilioStatusBody = Type.Object(
  {
    MessageSid: Type.Optional(Type.String({ pattern: '^[A-Z]{2}[0-9a-fA-F]{32}$' })),
    MessageStatus: Type.Optional(Type.String({ pattern: '^[a-z_]{1,32}$' })),
    ErrorCode: Type.Optional(Type.String({ pattern: '^[0-9]{1,10}$' })),
  },
  { additionalProperties: Type.String({ maxLength: 2000 }), maxProperties: 64 },
);

export const SmsStatusSchema = Type.Object({
  recorded: Type.Boolean({ description: 'false: unknown message, an older status, or not a delivery status' }),
  delivery_status: Nullable(DeliveryStatus),
});

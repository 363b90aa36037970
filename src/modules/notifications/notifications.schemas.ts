import { Type } from '@sinclair/typebox';
import { DateTime, idPageQuery, Nullable } from '../../shared/http-schemas.js';

// Spelled out (not mapped from the tables' lists) so the static types are the literals.
const ChannelName = Type.Union([Type.Literal('whatsapp'), Type.Literal('email')]);
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
  { whatsapp: Type.Boolean(), email: Type.Boolean() },
  {
    additionalProperties: false,
    description: 'false turns a channel off (account messages such as a password reset still go)',
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
    channels: ChannelSwitches,
    quiet_hours: QuietHours,
    time_zone: Type.Optional(Nullable(TimeZone)),
  },
  { additionalProperties: false },
);

export const AdminNotificationSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  user_id: Type.String({ format: 'uuid' }),
  channel: ChannelName,
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

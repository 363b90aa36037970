import { Type } from '@sinclair/typebox';
import { idPageQuery } from '../../shared/http-schemas.js';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './passwords.js';

const Email = Type.String({ format: 'email', maxLength: 254, description: 'unique, case-insensitively' });
// Length and commonness are checked by the service, so the message can say which.
const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 });
/** A password being set: the schema bounds the input, the service enforces 8–128 and commonness. */
const NewPassword = Type.String({
  minLength: 1,
  maxLength: PASSWORD_MAX_LENGTH * 4,
  description: `${PASSWORD_MIN_LENGTH}–${PASSWORD_MAX_LENGTH} characters, not among the ~49,000 most common breached passwords (else 400 WEAK_PASSWORD)`,
});
const Phone = Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164, e.g. +447700900123' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Locale = Type.String({ pattern: '^[a-z]{2,3}(-[A-Z]{2})?$', description: 'e.g. en, fr, pt-BR' });
const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/London' });

export const PublicUserSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  locale: Type.String(),
  time_zone: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('provider'), Type.Literal('admin')]),
  plan: Type.Union([Type.Literal('free'), Type.Literal('trial'), Type.Literal('premium')]),
  trial_expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  is_active: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
});

export const TokenPairSchema = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'seconds until the access token expires' }),
});

export const SignupBody = Type.Object(
  { email: Email, password: NewPassword, name: Type.Optional(Name), phone: Type.Optional(Phone) },
  { additionalProperties: false },
);
export const LoginBody = Type.Object({ email: Email, password: Password }, { additionalProperties: false });
export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);
export const ChangePasswordBody = Type.Object(
  { current_password: Password, new_password: NewPassword },
  { additionalProperties: false },
);
export const ResetRequestBody = Type.Object({ email: Email }, { additionalProperties: false });
export const ResetConfirmBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 200 }), password: NewPassword },
  { additionalProperties: false },
);
export const UpdateMeBody = Type.Object(
  {
    name: Type.Optional(Type.Union([Name, Type.Null()])),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    locale: Type.Optional(Locale),
    time_zone: Type.Optional(TimeZone),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const SessionSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  device: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time' }),
  expires_at: Type.String({ format: 'date-time' }),
  current: Type.Boolean(),
});

export const AdminUsersQuery = Type.Object(
  {
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'email prefix' })),
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('provider'), Type.Literal('admin')])),
    plan: Type.Optional(Type.Union([Type.Literal('free'), Type.Literal('trial'), Type.Literal('premium')])),
    active: Type.Optional(Type.Boolean()),
    ...idPageQuery(20),
  },
  { additionalProperties: false },
);

export const AdminUpdateUserBody = Type.Object(
  {
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('provider'), Type.Literal('admin')])),
    plan: Type.Optional(Type.Union([Type.Literal('free'), Type.Literal('trial'), Type.Literal('premium')])),
    is_active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Message = Type.Object({ message: Type.String() });

import { Type } from '@sinclair/typebox';
import { DateOnly, DateTime, idPageQuery, literals, Nullable, pageQuery, Uuid } from '../../shared/http-schemas.js';
import { PAYMENT_METHODS, PAYMENT_STATUSES, PaymentActionSchema, PaymentSchema } from '../payments/index.js';
import { BOOKING_STATUSES } from './bookings.tables.js';

const HHMM = Type.String({ pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$', description: 'local time HH:MM' });

const WeeklyInterval = Type.Object(
  {
    day_of_week: Type.Integer({ minimum: 1, maximum: 7, description: 'Monday = 1 … Sunday = 7' }),
    start: HHMM,
    end: HHMM,
  },
  { additionalProperties: false },
);

const DateException = Type.Union([
  Type.Object({ date: DateOnly, closed: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object({ date: DateOnly, start: HHMM, end: HHMM }, { additionalProperties: false }),
]);

export const ScheduleBody = Type.Object(
  {
    time_zone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone the schedule is in' }),
    weekly: Type.Array(WeeklyInterval, { maxItems: 70 }),
    breaks: Type.Array(WeeklyInterval, { maxItems: 70 }),
    exceptions: Type.Array(DateException, {
      maxItems: 400,
      description: 'a closed day, or hours that replace the weekly hours and breaks of that date',
    }),
  },
  { additionalProperties: false },
);

export const AvailabilitySchema = Type.Object({
  time_zone: Type.String(),
  weekly: Type.Array(WeeklyInterval),
  breaks: Type.Array(WeeklyInterval),
  exceptions: Type.Array(DateException),
  updated_at: Nullable(DateTime),
});

export const SlotsQuery = Type.Object(
  {
    service_id: Uuid,
    from: Type.Optional(Type.String({ format: 'date-time', description: 'default now' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'default from + 7 days; at most 60 days' })),
  },
  { additionalProperties: false },
);

export const SlotsSchema = Type.Object({
  provider_id: Uuid,
  service_id: Uuid,
  time_zone: Type.String(),
  duration_minutes: Type.Integer(),
  slots: Type.Array(DateTime, { description: 'free start times (UTC)' }),
});

const Status = Type.Union(BOOKING_STATUSES.map((status) => Type.Literal(status)));

export const BookingSchema = Type.Object({
  id: Uuid,
  customer_id: Nullable(Uuid),
  provider_id: Uuid,
  service_id: Uuid,
  status: Status,
  starts_at: DateTime,
  ends_at: DateTime,
  blocks_until: Type.String({ format: 'date-time', description: 'end of the visit plus the service buffer' }),
  price_minor: Type.Integer(),
  currency: Type.String(),
  note: Nullable(Type.String()),
  payment_status: Nullable(
    literals(
      PAYMENT_STATUSES,
      "the booking's payment (see `payment` on GET /bookings/:id); null when paid at the visit",
    ),
  ),
  payment_due_at: Nullable(
    Type.String({ format: 'date-time', description: 'pending_payment: the slot is released if not paid by then' }),
  ),
  cancelled_by: Nullable(literals(['customer', 'provider', 'admin', 'system'] as const, 'system: not paid in time')),
  cancel_reason: Nullable(Type.String()),
  created_at: DateTime,
  updated_at: DateTime,
  // Optional because only the views below fill them: the answers of writes (create, confirm,
  // cancel…) keep their shape.
  service_name: Type.Optional(
    Type.String({ description: 'GET /bookings/:id, /me/bookings and /provider/bookings: the name of the service' }),
  ),
  provider_name: Type.Optional(
    Type.String({ description: "GET /bookings/:id, /me/bookings and /provider/bookings: the provider's display name" }),
  ),
  customer_name: Type.Optional(
    Nullable(
      Type.String({
        description:
          "for the provider and admins (GET /provider/bookings, GET /admin/bookings, and GET /bookings/:id when its provider asks): the customer's display name; null when the account has none or was erased",
      }),
    ),
  ),
});

export const CreateBookingBody = Type.Object(
  {
    service_id: Uuid,
    starts_at: Type.String({ format: 'date-time', description: 'a start time from GET /providers/:id/slots' }),
    note: Type.Optional(Type.String({ maxLength: 500 })),
    payment_method: Type.Optional(
      literals(PAYMENT_METHODS, 'for a service paid at booking: how the customer pays (mada and STC Pay: SAR only)'),
    ),
    payment_token: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description:
          "for a service paid at booking: a token from the gateway's own client (a Stripe PaymentMethod id, a Moyasar token; sim_success, sim_card_<test card number>, sim_decline or sim_3ds on the simulated gateway); without it the answer's `payment_action` says how to pay",
      }),
    ),
  },
  { additionalProperties: false },
);

/** One booking with its payment: what POST /bookings and GET /bookings/:id answer. */
export const BookingDetailSchema = Type.Composite([
  BookingSchema,
  Type.Object({
    payment: Nullable(PaymentSchema),
    payment_action: Nullable(PaymentActionSchema),
  }),
]);

export const AdminCancelBody = Type.Object(
  {
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    provider_no_show: Type.Optional(
      Type.Boolean({ default: false, description: 'the provider did not come: the refund is recorded as such' }),
    ),
  },
  { additionalProperties: false },
);

export const CancelBody = Type.Object(
  { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'required from the provider' })) },
  { additionalProperties: false },
);

export const CalendarQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'default now' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'default from + 30 days' })),
    ...pageQuery(),
  },
  { additionalProperties: false },
);

export const AdminBookingsQuery = Type.Object(
  {
    status: Type.Optional(Status),
    provider_id: Type.Optional(Uuid),
    customer_id: Type.Optional(Uuid),
    ...pageQuery(),
  },
  { additionalProperties: false },
);

export const ReviewSchema = Type.Object({
  id: Uuid,
  booking_id: Uuid,
  provider_id: Uuid,
  rating: Type.Integer(),
  text: Type.String(),
  reply: Nullable(Type.String()),
  replied_at: Nullable(DateTime),
  created_at: DateTime,
});

export const ModeratedReviewSchema = Type.Object({
  ...ReviewSchema.properties,
  visible: Type.Boolean(),
  hidden_reason: Nullable(Type.String()),
});

/** A review in the admins' moderation list: its provider's name, no customer (who wrote it is not needed to judge it). */
export const AdminReviewSchema = Type.Object({
  ...ModeratedReviewSchema.properties,
  provider_name: Type.String(),
});

export const AdminReviewsQuery = Type.Object(
  {
    visible: Type.Optional(Type.Boolean({ description: 'true: shown reviews only; false: hidden ones only' })),
    provider_id: Type.Optional(Uuid),
    ...idPageQuery(20),
  },
  { additionalProperties: false },
);

export const ReviewBody = Type.Object(
  { rating: Type.Integer({ minimum: 1, maximum: 5 }), text: Type.String({ maxLength: 2000 }) },
  { additionalProperties: false },
);

export const ModerateBody = Type.Object(
  { visible: Type.Boolean(), reason: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) },
  { additionalProperties: false },
);

export const ReplyBody = Type.Object(
  { text: Type.String({ minLength: 1, maxLength: 2000 }) },
  { additionalProperties: false },
);

export const DashboardQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'default 30 days ago (UTC day)' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'default 30 days ahead (UTC day)' })),
  },
  { additionalProperties: false },
);

const Rate = Nullable(Type.Number({ minimum: 0, maximum: 1 }));

export const DashboardSchema = Type.Object({
  from: DateTime,
  to: DateTime,
  total: Type.Integer(),
  by_status: Type.Object(Object.fromEntries(BOOKING_STATUSES.map((status) => [status, Type.Integer()]))),
  // completed / (completed + no-show); cancelled / all bookings in range
  completion_rate: Rate,
  cancellation_rate: Rate,
  upcoming: Type.Array(BookingSchema, { description: 'next active bookings from now' }),
  rating: Type.Object({ average: Nullable(Type.Number()), count: Type.Integer() }),
  generated_at: DateTime,
});

export const ChatMessageSchema = Type.Object({
  id: Uuid,
  booking_id: Uuid,
  sender: literals(['customer', 'provider'] as const, 'who wrote it: customer | provider'),
  mine: Type.Boolean({ description: 'whether you wrote it' }),
  text: Nullable(Type.String({ description: 'null once the sender’s account was erased' })),
  created_at: DateTime,
  read_at: Nullable(DateTime),
});

export const ChatMessagesQuery = Type.Object(idPageQuery(50), { additionalProperties: false });

export const PostChatMessageBody = Type.Object(
  {
    text: Type.String({
      minLength: 1,
      maxLength: 2000,
      pattern: '\\S',
      description: 'the message, 1–2,000 characters (not only spaces)',
    }),
  },
  { additionalProperties: false, examples: [{ text: 'Is there parking near you?' }] },
);

export const MarkReadBody = Type.Object(
  {
    up_to_id: Type.Optional(
      Type.String({ format: 'uuid', description: 'mark the other party’s messages up to this one; absent: all' }),
    ),
  },
  { additionalProperties: false },
);

export const MarkReadSchema = Type.Object({
  read: Type.Integer({ description: 'messages marked read now' }),
  read_at: DateTime,
});

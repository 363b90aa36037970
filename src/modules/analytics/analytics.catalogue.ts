import { type TObject, type TProperties, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { literals } from '../../shared/http-schemas.js';
import { CONTENT_TIERS, CONTENT_TYPES } from '../content/index.js';

/** A property value an event may carry: flat, short, never an object. */
const Scalar = Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean(), Type.Null()]);
// A pattern, not `format: 'uuid'`: the compiled checker has no format registry.
const Id = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });
const Count = Type.Integer({ minimum: 0, maximum: 1_000_000_000 });
const Plan = Type.Union([Type.Literal('free'), Type.Literal('trial'), Type.Literal('premium')]);

// What the server records: its declared properties plus flat scalars, all sanitised.
const props = (properties: TProperties) => Type.Object(properties, { additionalProperties: Scalar, maxProperties: 30 });
// What an app may send: exactly the declared properties, each a number, a boolean, an id or one
// of a fixed list, never free text (undeclared ones are dropped before storage).
const clientProps = (properties: TProperties) => Type.Object(properties, { additionalProperties: false });

interface EventDefinition {
  description: string;
  /** `client`: apps may also send it through POST /events; `server`: only the domain action records it. */
  origin: 'server' | 'client';
  properties: TObject;
}

/**
 * Every product event, with the properties it carries. Domain actions record theirs in the
 * transaction of the action (`track`); clients may send only the `client` ones. Properties
 * not listed here are allowed (flat scalars) and go through the same sanitisation.
 */
export const EVENT_CATALOGUE = {
  user_signed_up: { description: 'An account was created', origin: 'server', properties: props({}) },
  profile_completed: {
    description: "The person's lifestyle profile reached complete (once)",
    origin: 'server',
    properties: props({}),
  },
  last_login: { description: 'A successful sign-in', origin: 'server', properties: props({}) },
  diet_plan_viewed: {
    description: "The person's diet plan was shown",
    origin: 'client',
    properties: clientProps({ personalised: Type.Optional(Type.Boolean()), items: Type.Optional(Count) }),
  },
  protection_plan_viewed: {
    description: "The person's protection plan was shown",
    origin: 'client',
    properties: clientProps({ personalised: Type.Optional(Type.Boolean()), items: Type.Optional(Count) }),
  },
  content_viewed: {
    description: 'A content item was read',
    origin: 'client',
    properties: clientProps({
      content_id: Id,
      type: Type.Optional(literals(CONTENT_TYPES)),
      tier: Type.Optional(literals(CONTENT_TIERS)),
    }),
  },
  whatsapp_opt_in: { description: 'WhatsApp consent was granted', origin: 'server', properties: props({}) },
  reminder_triggered: {
    description: 'A reminder occurrence was sent',
    origin: 'server',
    properties: props({ channel: Type.String(), recurrence: Type.String(), priority: Type.Boolean() }),
  },
  premium_feature_used: {
    description: 'A premium feature was used (with the use count this period)',
    origin: 'server',
    properties: props({ feature: Type.String({ maxLength: 60 }), usage_count: Count }),
  },
  admin_content_created: {
    description: 'An admin created a content item',
    origin: 'server',
    properties: props({ content_id: Id, type: Type.String() }),
  },
  support_request: {
    description: 'A support request was opened',
    origin: 'server',
    properties: props({ priority: Type.Boolean() }),
  },
  trial_started: { description: 'A 14-day trial began', origin: 'server', properties: props({ days: Count }) },
  plan_changed: {
    description: "The person's plan changed",
    origin: 'server',
    properties: props({ from: Plan, to: Plan, by: Type.String({ maxLength: 20 }) }),
  },
  service_searched: {
    description: 'A marketplace search (never the query text)',
    origin: 'client',
    properties: clientProps({ results: Type.Optional(Count), has_query: Type.Optional(Type.Boolean()) }),
  },
  slot_viewed: {
    description: "A provider's free slots were shown",
    origin: 'client',
    properties: clientProps({ provider_id: Id, service_id: Type.Optional(Id), slots: Type.Optional(Count) }),
  },
  booking_created: {
    description: 'A booking was made',
    origin: 'server',
    properties: props({
      booking_id: Id,
      provider_id: Id,
      service_id: Id,
      status: Type.String(),
      price_minor: Count,
      currency: Type.String({ minLength: 3, maxLength: 3 }),
    }),
  },
  booking_completed: {
    description: 'A booking was marked completed',
    origin: 'server',
    properties: props({ booking_id: Id, provider_id: Id, service_id: Id }),
  },
  booking_cancelled: {
    description: 'A booking was cancelled',
    origin: 'server',
    properties: props({ booking_id: Id, provider_id: Id, service_id: Id, cancelled_by: Type.String() }),
  },
  review_posted: {
    description: 'A review of a completed booking was posted',
    origin: 'server',
    properties: props({ provider_id: Id, booking_id: Id, rating: Type.Integer({ minimum: 1, maximum: 5 }) }),
  },
} as const satisfies Record<string, EventDefinition>;

export type EventName = keyof typeof EVENT_CATALOGUE;
export const EVENT_NAMES = Object.keys(EVENT_CATALOGUE) as EventName[];

const checkers = new Map<string, TypeCheck<TObject>>(
  EVENT_NAMES.map((name) => [name, TypeCompiler.Compile(EVENT_CATALOGUE[name].properties)]),
);

export const isEventName = (name: string): name is EventName => checkers.has(name);

/**
 * A client event's properties without those its catalogue entry does not declare, and how many
 * were dropped. Server events keep theirs (they are the server's own words, sanitised).
 */
export function declaredProperties(
  name: EventName,
  properties: Record<string, unknown>,
): { properties: Record<string, unknown>; dropped: number } {
  const declared = EVENT_CATALOGUE[name].properties.properties;
  let dropped = 0;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (Object.hasOwn(declared, key)) kept[key] = value;
    else dropped += 1;
  }
  return { properties: dropped === 0 ? properties : kept, dropped };
}

/** Why these properties do not fit the event's schema (the first error), or undefined when they do. */
export function propertyError(name: EventName, properties: unknown): string | undefined {
  const checker = checkers.get(name) as TypeCheck<TObject>;
  if (checker.Check(properties)) return undefined;
  const error = checker.Errors(properties).First();
  return error ? `${error.path || '/'}: ${error.message}` : 'invalid properties';
}

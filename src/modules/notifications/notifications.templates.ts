/**
 * Message templates: each builds one piece of content (subject, paragraphs, an optional
 * button) that a single layout turns into plain text, HTML and a WhatsApp text. Every value
 * that reaches HTML goes through `escapeHtml`, so data can never inject markup.
 */

export interface RenderContext {
  /** Base URL of the web app, without a trailing slash. */
  appUrl: string;
  /** The recipient's time zone: times in messages are the recipient's local times. */
  timeZone: string;
  name?: string | null;
  /** Account messages carry no "change your settings" footer (they cannot be turned off). */
  footer: boolean;
}

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
  /** The first paragraph and the link: what fits an SMS or a push notification. */
  short: string;
  url?: string;
}

interface Content {
  subject: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  /** Shown after the button, e.g. "ignore this if it was not you". */
  after?: string[];
}

interface TemplateDefinition {
  /** Data keys that must be non-empty strings; `*_at` keys must be ISO dates. */
  required: readonly string[];
  optional?: readonly string[];
  /** Holds a secret (a reset token): the data is cleared whenever the message ends, and it cannot be re-sent. */
  sensitive?: boolean;
  build(data: Record<string, string>, context: RenderContext): Content;
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function formatTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  }).format(new Date(iso));
}

function withProvider(data: Record<string, string>): string {
  return data.provider_name ? `${data.service_name} with ${data.provider_name}` : (data.service_name as string);
}

const bookingUrl = (data: Record<string, string>, context: RenderContext) =>
  data.booking_id ? `${context.appUrl}/bookings/${encodeURIComponent(data.booking_id)}` : `${context.appUrl}/bookings`;

/** The provider's view of a booking in the web app. */
const providerBookingUrl = (data: Record<string, string>, context: RenderContext) =>
  `${context.appUrl}/provider/bookings/${encodeURIComponent(data.booking_id as string)}`;

const BOOKING_OPTIONAL = ['provider_name', 'booking_id'] as const;

export const TEMPLATES = {
  password_reset: {
    required: ['token', 'expires_at'],
    sensitive: true,
    build: (data, context) => ({
      subject: 'Reset your Care Platform password',
      paragraphs: [
        'Someone (we hope you) asked to reset the password of your Care Platform account.',
        `The link below works once and expires on ${formatTime(data.expires_at as string, context.timeZone)}.`,
      ],
      action: {
        label: 'Choose a new password',
        url: `${context.appUrl}/reset-password?token=${encodeURIComponent(data.token as string)}`,
      },
      after: ['If you did not ask for this, ignore this message: your password stays as it is.'],
    }),
  },
  provider_application_received: {
    required: ['business_name', 'city', 'country'],
    build: (data, context) => ({
      subject: `New provider application: ${data.business_name}`,
      paragraphs: [
        `${data.business_name} (${data.city}, ${data.country}) applied to offer services. It waits for review.`,
      ],
      action: { label: 'Review applications', url: `${context.appUrl}/admin` },
    }),
  },
  provider_application_decided: {
    required: ['business_name', 'decision'],
    optional: ['reason'],
    build: (data, context) =>
      data.decision === 'approved'
        ? {
            subject: 'You are now a provider on Care Platform',
            paragraphs: [
              `Your application for ${data.business_name} was approved: your provider profile is verified.`,
              'Sign in again, then add your services and weekly hours to start taking bookings.',
            ],
            action: { label: 'Open your provider profile', url: `${context.appUrl}/provider` },
          }
        : {
            subject: 'Your provider application was not approved',
            paragraphs: [
              `Your application for ${data.business_name} was not approved.`,
              ...(data.reason ? [`The reviewer wrote: ${data.reason}`] : []),
              'You may apply again with the missing details or documents.',
            ],
          },
  },
  booking_confirmed: {
    required: ['service_name', 'starts_at'],
    optional: BOOKING_OPTIONAL,
    build: (data, context) => ({
      subject: `Booking confirmed: ${data.service_name}`,
      paragraphs: [
        `Your booking is confirmed: ${withProvider(data)}, ${formatTime(data.starts_at as string, context.timeZone)}.`,
      ],
      action: { label: 'View your booking', url: bookingUrl(data, context) },
    }),
  },
  booking_cancelled: {
    required: ['service_name', 'starts_at'],
    optional: [...BOOKING_OPTIONAL, 'reason'],
    build: (data, context) => ({
      subject: `Booking cancelled: ${data.service_name}`,
      paragraphs: [
        `Your booking ${withProvider(data)} on ${formatTime(data.starts_at as string, context.timeZone)} is cancelled.`,
        ...(data.reason ? [`Reason: ${data.reason}`] : []),
      ],
      action: { label: 'Find another time', url: bookingUrl(data, context) },
    }),
  },
  booking_rescheduled: {
    required: ['service_name', 'starts_at', 'previous_starts_at'],
    optional: [...BOOKING_OPTIONAL, 'moved_by', 'status'],
    build: (data, context) => ({
      subject: `Booking moved: ${data.service_name}`,
      paragraphs: [
        `${data.moved_by === 'provider' ? 'Your provider moved' : data.moved_by === 'customer' ? 'Your customer moved' : 'We moved'} ${withProvider(data)} from ${formatTime(data.previous_starts_at as string, context.timeZone)} to ${formatTime(data.starts_at as string, context.timeZone)}.`,
        ...(data.status === 'pending' ? ['The new time still waits for the provider’s confirmation.'] : []),
        'If the new time does not suit you, you can cancel or choose another time from the booking.',
      ],
      action: { label: 'View your booking', url: bookingUrl(data, context) },
    }),
  },
  booking_series_created: {
    required: ['service_name', 'starts_at', 'count', 'last_starts_at'],
    optional: [...BOOKING_OPTIONAL, 'customer_name', 'status'],
    build: (data, context) => ({
      subject: `${data.count} weekly bookings: ${data.service_name}`,
      paragraphs: [
        `${data.customer_name ? `${data.customer_name} booked` : 'You booked'} ${data.count} weekly visits, ${withProvider(data)}, from ${formatTime(data.starts_at as string, context.timeZone)} to ${formatTime(data.last_starts_at as string, context.timeZone)}.`,
        ...(data.status === 'pending' ? ['Each visit waits for the provider’s confirmation.'] : []),
      ],
      action: { label: 'View your bookings', url: `${context.appUrl}/bookings` },
    }),
  },
  waitlist_offer: {
    required: ['service_name', 'starts_at', 'expires_at', 'entry_id'],
    optional: ['provider_name'],
    build: (data, context) => ({
      subject: `A time is free: ${data.service_name}`,
      paragraphs: [
        `A time you waited for is free: ${withProvider(data)}, ${formatTime(data.starts_at as string, context.timeZone)}. It is held for you until ${formatTime(data.expires_at as string, context.timeZone)}.`,
        'After that it goes to the next person waiting.',
      ],
      action: {
        label: 'Book this time',
        url: `${context.appUrl}/waitlist/${encodeURIComponent(data.entry_id as string)}`,
      },
    }),
  },
  booking_reminder: {
    required: ['service_name', 'starts_at'],
    optional: [...BOOKING_OPTIONAL, 'when'],
    build: (data, context) => ({
      // `when: soon` for a booking made less than a day ahead (reminded 2 hours before).
      subject: `Reminder: ${data.service_name} ${data.when === 'soon' ? 'soon' : 'tomorrow'}`,
      paragraphs: [
        `A reminder of your booking: ${withProvider(data)}, ${formatTime(data.starts_at as string, context.timeZone)}.`,
      ],
      action: { label: 'View your booking', url: bookingUrl(data, context) },
    }),
  },
  booking_pending: {
    required: ['service_name', 'starts_at', 'booking_id'],
    optional: ['customer_name', 'waiting_since'],
    build: (data, context) => ({
      subject: data.waiting_since
        ? `Still waiting: ${data.service_name}`
        : `New booking to confirm: ${data.service_name}`,
      paragraphs: [
        data.waiting_since
          ? `A booking for ${data.service_name} on ${formatTime(data.starts_at as string, context.timeZone)} is still waiting for your confirmation.`
          : `${data.customer_name ?? 'A customer'} booked ${data.service_name} on ${formatTime(data.starts_at as string, context.timeZone)}; it waits for your confirmation.`,
      ],
      action: { label: 'Confirm or decline', url: providerBookingUrl(data, context) },
    }),
  },
  review_request: {
    required: ['service_name', 'booking_id'],
    optional: ['provider_name'],
    build: (data, context) => ({
      subject: `How was ${data.service_name}?`,
      paragraphs: [`Thank you for visiting: how was ${withProvider(data)}? Your review helps others choose.`],
      action: {
        label: 'Write a review',
        url: `${context.appUrl}/bookings/${encodeURIComponent(data.booking_id as string)}/review`,
      },
    }),
  },
  review_posted: {
    required: ['service_name', 'booking_id', 'rating'],
    build: (data, context) => ({
      subject: `New review: ${data.rating} of 5 for ${data.service_name}`,
      paragraphs: [`A customer rated ${data.service_name} ${data.rating} of 5. You can reply once.`],
      action: { label: 'Read and reply', url: providerBookingUrl(data, context) },
    }),
  },
  chat_message: {
    required: ['service_name', 'booking_id', 'sender'],
    build: (data, context) => ({
      // The text itself stays in the app: messages may be personal, SMS and push pass through third parties.
      subject: `New message about ${data.service_name}`,
      paragraphs: [`${data.sender} sent you a message about ${data.service_name}.`],
      action: {
        label: 'Read and answer',
        url: `${context.appUrl}/bookings/${encodeURIComponent(data.booking_id as string)}/chat`,
      },
    }),
  },
  payment_receipt: {
    required: ['description', 'amount', 'paid_at'],
    optional: ['method', 'card_last4', 'payment_id', 'booking_id'],
    build: (data, context) => ({
      subject: `Receipt: ${data.amount} paid`,
      paragraphs: [
        `We received ${data.amount} for ${data.description} on ${formatTime(data.paid_at as string, context.timeZone)}.`,
        ...(data.card_last4 ? [`Paid with ${data.method ?? 'card'} ending in ${data.card_last4}.`] : []),
        ...(data.payment_id ? [`Payment reference: ${data.payment_id}`] : []),
      ],
      ...(data.booking_id ? { action: { label: 'View your booking', url: bookingUrl(data, context) } } : {}),
    }),
  },
  refund_notice: {
    required: ['description', 'amount'],
    optional: ['reason', 'payment_id', 'booking_id'],
    build: (data, context) => ({
      subject: `Refund: ${data.amount} on its way`,
      paragraphs: [
        `We refunded ${data.amount} for ${data.description}. Your bank shows it within a few working days.`,
        ...(data.reason ? [`Reason: ${data.reason}`] : []),
        ...(data.payment_id ? [`Payment reference: ${data.payment_id}`] : []),
      ],
      ...(data.booking_id ? { action: { label: 'View your booking', url: bookingUrl(data, context) } } : {}),
    }),
  },
  security_alert: {
    required: ['summary', 'lines'],
    build: (data, context) => ({
      subject: `Security alert: ${data.summary}`,
      paragraphs: [
        'Care Platform detected the following. Blocks lift by themselves when they expire; an admin can lift one sooner.',
        ...String(data.lines).split('\n'),
      ],
      action: { label: 'Open security events', url: `${context.appUrl}/admin#security` },
    }),
  },
  wellness_reminder: {
    required: ['title', 'message'],
    build: (data, context) => ({
      subject: data.title as string,
      paragraphs: [data.message as string],
      action: { label: 'Open your plan', url: `${context.appUrl}/wellness` },
    }),
  },
} satisfies Record<string, TemplateDefinition>;

export type TemplateName = keyof typeof TEMPLATES;

const definitionOf = (template: string): TemplateDefinition | undefined =>
  Object.hasOwn(TEMPLATES, template) ? (TEMPLATES as Record<string, TemplateDefinition>)[template] : undefined;

export function isSensitiveTemplate(template: string): boolean {
  return definitionOf(template)?.sensitive === true;
}

/** Why `data` cannot fill `template`, or undefined when it can. */
export function templateProblem(template: string, data: Record<string, unknown>): string | undefined {
  const definition = definitionOf(template);
  if (!definition) return `unknown template "${template}"`;
  for (const key of definition.required) {
    const value = data[key];
    if (typeof value !== 'string' || value.length === 0) return `template "${template}" needs data.${key}`;
    if (key.endsWith('_at') && Number.isNaN(Date.parse(value))) return `data.${key} is not a date`;
  }
  for (const key of definition.optional ?? []) {
    if (data[key] !== undefined && typeof data[key] !== 'string') return `data.${key} must be a string`;
  }
  return undefined;
}

/** Renders a template; throws when the data does not fit it. */
export function renderTemplate(
  template: string,
  data: Record<string, unknown>,
  context: RenderContext,
): RenderedMessage {
  const problem = templateProblem(template, data);
  if (problem) throw new Error(`cannot render: ${problem}`);
  const content = (definitionOf(template) as TemplateDefinition).build(data as Record<string, string>, context);
  const greeting = context.name ? `Hello ${context.name},` : 'Hello,';
  const footer = context.footer
    ? `You can choose which messages you get, and when, in your notification settings: ${context.appUrl}/settings/notifications`
    : undefined;

  const text = [
    greeting,
    ...content.paragraphs,
    ...(content.action ? [`${content.action.label}: ${content.action.url}`] : []),
    ...(content.after ?? []),
    ...(footer ? ['--', footer] : []),
  ].join('\n\n');

  const paragraph = (value: string) => `<p>${escapeHtml(value)}</p>`;
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(content.subject)}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.5; color: #222;">',
    paragraph(greeting),
    ...content.paragraphs.map(paragraph),
    ...(content.action
      ? [
          `<p><a href="${escapeHtml(content.action.url)}" style="display: inline-block; padding: 10px 16px; background: #2f6f5e; color: #fff; text-decoration: none; border-radius: 4px;">${escapeHtml(content.action.label)}</a></p>`,
          `<p style="font-size: 12px; color: #666;">Or open this link: ${escapeHtml(content.action.url)}</p>`,
        ]
      : []),
    ...(content.after ?? []).map(paragraph),
    ...(footer ? [`<hr><p style="font-size: 12px; color: #666;">${escapeHtml(footer)}</p>`] : []),
    '</body></html>',
  ].join('\n');

  const short = [content.paragraphs[0] ?? content.subject, ...(content.action ? [content.action.url] : [])].join(' ');
  return { subject: content.subject, text, html, short, url: content.action?.url };
}

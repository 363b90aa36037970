import { AppError } from '../../errors.js';
import type { GatewayName } from './payments.tables.js';

/*
 * Money arithmetic. Amounts are integer minor units of an ISO 4217 currency (JavaScript numbers,
 * always safe integers; the database keeps them as bigint). Nothing here touches a float: every
 * product and quotient is computed in BigInt and rounded half to even, so many small commissions
 * do not all drift upwards as they would with half-up rounding, and the parts of any split are
 * computed so that they always add up to the whole.
 */

const CURRENCY_CODE = /^[A-Z]{3}$/;

/**
 * ISO 4217 minor-unit exponents that differ from 2 (ISO 4217 list one, current edition). Every
 * other well-formed code has two decimals: listing the hundred-odd two-decimal currencies would
 * only add places to get wrong. Gateways sometimes disagree with ISO (Stripe takes ISK and UGX as
 * two-decimal amounts and MGA as zero-decimal); converting to a gateway's units is the gateway
 * adapter's job, the amounts we store follow ISO.
 */
export const CURRENCY_EXPONENTS: Readonly<Record<string, 0 | 3 | 4>> = Object.freeze({
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
});

const DEFAULT_EXPONENT = 2;

function assertCurrency(currency: string): void {
  if (!CURRENCY_CODE.test(currency)) {
    throw new RangeError(`currency must be an uppercase ISO 4217 code, got ${JSON.stringify(currency)}`);
  }
}

/** Digits after the decimal point of `currency` (JPY 0, GBP 2, KWD 3); unknown well-formed codes: 2. */
export function currencyExponent(currency: string): number {
  assertCurrency(currency);
  return CURRENCY_EXPONENTS[currency] ?? DEFAULT_EXPONENT;
}

function assertMinor(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
  }
}

function toSafeNumber(value: bigint): number {
  const result = Number(value);
  if (!Number.isSafeInteger(result)) throw new RangeError(`${value} is beyond the safe integer range`);
  return result;
}

/**
 * `numerator / denominator` rounded half to even, both non-negative. Half to even (banker's
 * rounding) sends exact halves to the even neighbour, so over many amounts the halves go up and
 * down equally often instead of always up.
 */
export function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n || numerator < 0n) throw new RangeError('divideHalfEven takes n >= 0 and d > 0');
  const quotient = numerator / denominator;
  const twiceRemainder = (numerator % denominator) * 2n;
  if (twiceRemainder > denominator) return quotient + 1n;
  if (twiceRemainder === denominator && quotient % 2n === 1n) return quotient + 1n;
  return quotient;
}

/** `a × b / c` rounded half to even, on non-negative safe integers, with no intermediate overflow. */
export function mulDivHalfEven(a: number, b: number, c: number): number {
  assertMinor('a', a);
  assertMinor('b', b);
  if (!Number.isSafeInteger(c) || c <= 0) throw new RangeError(`c must be a positive safe integer, got ${c}`);
  return toSafeNumber(divideHalfEven(BigInt(a) * BigInt(b), BigInt(c)));
}

export const BPS_PER_WHOLE = 10_000;

/** `bps` basis points of `amountMinor`, half to even: percentOf(1005, 1000) = 100 (100.5 → even 100), percentOf(1015, 1000) = 102. */
export function percentOf(amountMinor: number, bps: number): number {
  assertMinor('amountMinor', amountMinor);
  assertMinor('bps', bps);
  return mulDivHalfEven(amountMinor, bps, BPS_PER_WHOLE);
}

/**
 * `total` shared out in proportion to `weights`; the parts always sum to `total` exactly.
 * Each part is the difference of rounded running totals (half to even): part i is
 * round(total × (w1+…+wi) / W) − round(total × (w1+…+wi−1) / W), so the sum telescopes to `total`
 * and every part is within one minor unit of its exact share.
 */
export function splitProportionally(total: number, weights: readonly number[]): number[] {
  assertMinor('total', total);
  if (weights.length === 0) throw new RangeError('splitProportionally needs at least one weight');
  for (const weight of weights) assertMinor('weight', weight);
  const sum = weights.reduce((acc, weight) => acc + BigInt(weight), 0n);
  if (sum === 0n) {
    if (total === 0) return weights.map(() => 0);
    throw new RangeError('splitProportionally cannot share a non-zero total among zero weights');
  }
  const parts: number[] = [];
  let running = 0n;
  let previous = 0n;
  for (const weight of weights) {
    running += BigInt(weight);
    const upTo = divideHalfEven(BigInt(total) * running, sum);
    parts.push(toSafeNumber(upTo - previous));
    previous = upTo;
  }
  return parts;
}

/**
 * An amount as a plain decimal string for receipts and CSV ("12.34", "1234" for JPY, "1.005" for
 * KWD, "-0.05"): digits moved by string, so no amount is ever off by a float's rounding.
 */
export function formatMinor(amountMinor: number | bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const value = typeof amountMinor === 'bigint' ? amountMinor : BigInt(assertInteger(amountMinor));
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return negative ? `-${whole}` : whole;
}

function assertInteger(value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`amount must be a safe integer, got ${value}`);
  return value;
}

/**
 * Stripe's documented minimum charge per currency, in ISO minor units
 * (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). A charge settled in
 * another currency must also clear that currency's minimum after conversion, which Stripe checks.
 */
export const STRIPE_MINIMUM_CHARGE_MINOR: Readonly<Record<string, number>> = Object.freeze({
  USD: 50,
  AED: 200,
  ARS: 50,
  AUD: 50,
  BRL: 50,
  CAD: 50,
  CHF: 50,
  COP: 50,
  CZK: 1500,
  DKK: 250,
  EUR: 50,
  GBP: 30,
  HKD: 400,
  HUF: 17500,
  IDR: 50,
  ILS: 50,
  INR: 50,
  JPY: 50,
  KRW: 50,
  MXN: 1000,
  MYR: 200,
  NOK: 300,
  NZD: 50,
  PHP: 50,
  PLN: 200,
  RON: 200,
  RUB: 50,
  SEK: 300,
  SGD: 50,
  THB: 1000,
  ZAR: 50,
});

/**
 * Currencies we sell in that Stripe's table leaves out: there Stripe's rule is "at least 0.50 USD
 * or equivalent", so each value is 0.50 USD at the reference rate in the comment, rounded up to a
 * round figure that leaves room for the rate to move. Three-decimal amounts end in 0, because
 * Stripe refuses a three-decimal amount whose last digit is not 0.
 */
export const STRIPE_USD_EQUIVALENT_MINIMUM_MINOR: Readonly<Record<string, number>> = Object.freeze({
  SAR: 200, // pegged 3.75 per USD: 0.50 USD = 1.875 SAR
  QAR: 200, // pegged 3.64: 1.82 QAR
  BHD: 200, // pegged 0.376: 0.188 BHD
  OMR: 200, // pegged 0.3845: 0.19225 OMR
  JOD: 400, // pegged 0.709: 0.3545 JOD
  KWD: 200, // basket, about 0.307: about 0.154 KWD
});

/** Moyasar's documented minimum: 1.00 SAR. */
const MOYASAR_MINIMUM_CHARGE_MINOR: Readonly<Record<string, number>> = Object.freeze({ SAR: 100 });

/**
 * The smallest amount `gateway` accepts in `currency`, in minor units.
 *
 * - stripe: Stripe's table; else the 0.50 USD equivalent above; else (no rate known here) one
 *   whole unit of the currency, a floor only: below 0.50 USD Stripe still answers
 *   `amount_too_small`, which the gateway reports as a declined payment.
 * - moyasar: 100 halalas in SAR; in the other currencies it may be enabled for (AED, BHD, KWD,
 *   QAR, USD) one whole unit, the same rule as its SAR minimum.
 * - simulated: 1.
 */
export function minimumChargeMinor(currency: string, gateway: GatewayName): number {
  const oneWholeUnit = 10 ** currencyExponent(currency);
  switch (gateway) {
    case 'stripe':
      return STRIPE_MINIMUM_CHARGE_MINOR[currency] ?? STRIPE_USD_EQUIVALENT_MINIMUM_MINOR[currency] ?? oneWholeUnit;
    case 'moyasar':
      return MOYASAR_MINIMUM_CHARGE_MINOR[currency] ?? oneWholeUnit;
    case 'simulated':
      return 1;
  }
}

/**
 * Where Stripe's unit differs from ISO's minor unit (https://docs.stripe.com/currencies): ISK and
 * UGX are zero-decimal in ISO but sent to Stripe as two-decimal amounts (× 100); MGA has two
 * ISO decimals but Stripe takes it as zero-decimal (÷ 100). Everything else is the ISO minor unit.
 */
const STRIPE_UNIT_FACTOR: Readonly<Record<string, { times: number } | { per: number }>> = Object.freeze({
  ISK: { times: 100 },
  UGX: { times: 100 },
  MGA: { per: 100 },
});

/** Three-decimal currencies Stripe takes only in whole hundredths (the last digit must be 0). */
const STRIPE_TEN_STEP = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/**
 * Why Stripe cannot take `amountMinor` of `currency` exactly, or null when it can: an MGA amount
 * with ariary fractions, or a three-decimal amount whose last digit is not 0.
 */
export function stripeUnrepresentable(amountMinor: number, currency: string): string | null {
  const factor = STRIPE_UNIT_FACTOR[currency];
  if (factor && 'per' in factor && amountMinor % factor.per !== 0)
    return 'Stripe takes only whole units of this currency';
  if (STRIPE_TEN_STEP.has(currency) && amountMinor % 10 !== 0)
    return 'Stripe takes this currency only in steps of 0.010';
  return null;
}

/** ISO minor units → the amount Stripe's API takes. */
export function toStripeAmount(amountMinor: number, currency: string): number {
  const factor = STRIPE_UNIT_FACTOR[currency.toUpperCase()];
  if (!factor) return amountMinor;
  return 'times' in factor ? amountMinor * factor.times : Math.round(amountMinor / factor.per);
}

/** The amount in Stripe's API → ISO minor units. */
export function fromStripeAmount(amount: number, currency: string): number {
  const factor = STRIPE_UNIT_FACTOR[currency.toUpperCase()];
  if (!factor) return amount;
  return 'times' in factor ? divideHalfEvenNumber(amount, factor.times) : amount * factor.per;
}

function divideHalfEvenNumber(amount: number, by: number): number {
  const sign = amount < 0 ? -1 : 1;
  return sign * Number(divideHalfEven(BigInt(Math.abs(amount)), BigInt(by)));
}

/** Per-currency bounds of a commission rule (`commission_rules.limits`). */
export type CommissionLimits = Readonly<Record<string, { min_minor?: number; max_minor?: number } | undefined>>;

/**
 * The platform's commission on a payment: `rateBps` of the amount (half to even), then held to
 * the currency's bounds, never above the amount and never below 0. Should a rule's minimum exceed
 * its maximum, the maximum wins: a cap is a promise to providers.
 */
export function commissionFor(input: {
  amountMinor: number;
  currency: string;
  rateBps: number;
  limits?: CommissionLimits;
}): number {
  const { amountMinor, currency, rateBps } = input;
  assertMinor('amountMinor', amountMinor);
  assertCurrency(currency);
  if (!Number.isSafeInteger(rateBps) || rateBps < 0 || rateBps > BPS_PER_WHOLE) {
    throw new RangeError(`rateBps must be an integer in 0..${BPS_PER_WHOLE}, got ${rateBps}`);
  }
  let commission = percentOf(amountMinor, rateBps);
  const bounds = input.limits?.[currency];
  if (bounds?.min_minor !== undefined) {
    assertMinor('min_minor', bounds.min_minor);
    commission = Math.max(commission, bounds.min_minor);
  }
  if (bounds?.max_minor !== undefined) {
    assertMinor('max_minor', bounds.max_minor);
    commission = Math.min(commission, bounds.max_minor);
  }
  return Math.max(0, Math.min(commission, amountMinor));
}

export interface RefundSplit {
  /** The part of the platform's commission given back with this refund. */
  commissionReversedMinor: number;
  /** The part taken back from the provider: the refund less the reversed commission. */
  providerShareMinor: number;
}

/**
 * How a refund of `refundMinor` divides between the provider and the platform's commission.
 *
 * The commission is reversed in proportion to the money refunded so far, not refund by refund:
 * after refunds totalling R of an amount A, the reversals total round_half_even(C × R / A). Each
 * refund reverses the difference between that running figure and what was reversed before, so
 * rounding never accumulates, the split does not depend on how the refunds were cut, and the
 * refund that brings R to A reverses exactly what is left of the commission.
 *
 * `amountMinor` is the captured amount the commission was priced on. A refund beyond what is left
 * to refund is refused with REFUND_EXCEEDS_CAPTURE.
 */
export function refundSplit(input: {
  refundMinor: number;
  amountMinor: number;
  commissionMinor: number;
  alreadyRefundedMinor: number;
  alreadyReversedCommissionMinor: number;
}): RefundSplit {
  const { refundMinor, amountMinor, commissionMinor, alreadyRefundedMinor, alreadyReversedCommissionMinor } = input;
  for (const [name, value] of Object.entries(input)) assertMinor(name, value);
  if (refundMinor === 0) throw new RangeError('refundMinor must be positive');
  if (commissionMinor > amountMinor) throw new RangeError('commissionMinor exceeds amountMinor');
  if (alreadyRefundedMinor > amountMinor) throw new RangeError('alreadyRefundedMinor exceeds amountMinor');
  if (alreadyReversedCommissionMinor > commissionMinor) {
    throw new RangeError('alreadyReversedCommissionMinor exceeds commissionMinor');
  }
  const refundable = amountMinor - alreadyRefundedMinor;
  if (refundMinor > refundable) {
    throw new AppError(
      'REFUND_EXCEEDS_CAPTURE',
      `A refund of ${refundMinor} exceeds the ${refundable} left to refund on this payment`,
    );
  }
  const commissionLeft = commissionMinor - alreadyReversedCommissionMinor;
  const refundedAfter = alreadyRefundedMinor + refundMinor;
  let reversed: number;
  if (refundedAfter === amountMinor) {
    reversed = commissionLeft;
  } else {
    const reversedAfter = mulDivHalfEven(commissionMinor, refundedAfter, amountMinor);
    // Clamped for histories written by another rule: never negative, never more than is left.
    reversed = Math.min(Math.max(reversedAfter - alreadyReversedCommissionMinor, 0), commissionLeft);
  }
  if (reversed > refundMinor) {
    // Only reachable when earlier refunds reversed less than this rule would have.
    throw new RangeError(`reversing ${reversed} of commission exceeds the refund of ${refundMinor}`);
  }
  return { commissionReversedMinor: reversed, providerShareMinor: refundMinor - reversed };
}

/** `system`: an unpaid booking released when its hold ran out. */
export type CancelledBy = 'customer' | 'provider' | 'admin' | 'system';

const HOUR_MS = 3_600_000;

/**
 * What goes back to the customer when a paid booking is cancelled, in minor units (0 when nothing
 * is left to refund).
 *
 * - By the provider, an admin or the system: everything not yet refunded.
 * - By the customer until `freeCancelHours` before the start (that instant included, as the
 *   service's policy reads "until N hours before"): everything not yet refunded.
 * - By the customer later: the captured amount less the late fee (`lateCancelFeeBps` of the
 *   captured amount, half to even), less what was already refunded: the fee is what the platform
 *   and provider keep in total, however many refunds came before.
 */
export function cancellationRefund(input: {
  capturedMinor: number;
  alreadyRefundedMinor: number;
  startsAt: Date;
  cancelledAt: Date;
  freeCancelHours: number;
  lateCancelFeeBps: number;
  cancelledBy: CancelledBy;
}): number {
  const { capturedMinor, alreadyRefundedMinor, freeCancelHours, lateCancelFeeBps } = input;
  assertMinor('capturedMinor', capturedMinor);
  assertMinor('alreadyRefundedMinor', alreadyRefundedMinor);
  assertMinor('freeCancelHours', freeCancelHours);
  if (!Number.isSafeInteger(lateCancelFeeBps) || lateCancelFeeBps < 0 || lateCancelFeeBps > BPS_PER_WHOLE) {
    throw new RangeError(`lateCancelFeeBps must be an integer in 0..${BPS_PER_WHOLE}, got ${lateCancelFeeBps}`);
  }
  if (alreadyRefundedMinor > capturedMinor) throw new RangeError('alreadyRefundedMinor exceeds capturedMinor');
  const remaining = capturedMinor - alreadyRefundedMinor;
  if (input.cancelledBy !== 'customer') return remaining;
  const freeUntil = input.startsAt.getTime() - freeCancelHours * HOUR_MS;
  if (input.cancelledAt.getTime() <= freeUntil) return remaining;
  const fee = percentOf(capturedMinor, lateCancelFeeBps);
  return Math.max(0, capturedMinor - fee - alreadyRefundedMinor);
}

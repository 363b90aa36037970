import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import {
  CURRENCY_EXPONENTS,
  cancellationRefund,
  commissionFor,
  currencyExponent,
  divideHalfEven,
  formatMinor,
  fromStripeAmount,
  minimumChargeMinor,
  percentOf,
  refundSplit,
  splitProportionally,
  stripeUnrepresentable,
  toStripeAmount,
} from '../../src/modules/payments/payments.money.js';

// Small tier: pure functions, no database. Currencies of every exponent we sell in: zero (JPY),
// two (GBP, SAR) and three decimals (KWD, BHD).

describe('currency exponents and formatting', () => {
  it.each([
    ['JPY', 0],
    ['GBP', 2],
    ['SAR', 2],
    ['KWD', 3],
    ['BHD', 3],
    ['ISK', 0],
    ['CLF', 4],
    // Well-formed but not in the table: two decimals.
    ['ZZZ', 2],
  ])('%s has %i decimals', (currency, exponent) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });

  it('lists only the exceptions to two decimals, and refuses malformed codes', () => {
    expect((Object.values(CURRENCY_EXPONENTS) as number[]).includes(2)).toBe(false);
    for (const code of ['gbp', 'GB', 'GBPX', '', '12A']) expect(() => currencyExponent(code)).toThrow(RangeError);
  });

  it.each([
    [1234, 'JPY', '1234'],
    [0, 'JPY', '0'],
    [-5, 'JPY', '-5'],
    [1234, 'GBP', '12.34'],
    [5, 'GBP', '0.05'],
    [-5, 'GBP', '-0.05'],
    [100, 'GBP', '1.00'],
    [0, 'GBP', '0.00'],
    [9999, 'SAR', '99.99'],
    [1005, 'KWD', '1.005'],
    [7, 'KWD', '0.007'],
    [-1000, 'KWD', '-1.000'],
    [123456, 'BHD', '123.456'],
    [Number.MAX_SAFE_INTEGER, 'GBP', '90071992547409.91'],
  ])('formatMinor(%i, %s) is %s', (amount, currency, text) => {
    expect(formatMinor(amount, currency)).toBe(text);
  });

  it('formats bigints beyond 2^53 exactly and refuses non-integers', () => {
    expect(formatMinor(12345678901234567890n, 'GBP')).toBe('123456789012345678.90');
    expect(() => formatMinor(12.5, 'GBP')).toThrow(RangeError);
    expect(() => formatMinor(Number.NaN, 'GBP')).toThrow(RangeError);
  });

  it('round-trips: the formatted digits are the amount, for every exponent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e12, max: 1e12 }),
        fc.constantFrom('JPY', 'GBP', 'KWD', 'BHD', 'SAR'),
        (amount, currency) => {
          const text = formatMinor(amount, currency);
          const exponent = currencyExponent(currency);
          expect(text).toMatch(exponent === 0 ? /^-?\d+$/ : new RegExp(`^-?\\d+\\.\\d{${exponent}}$`));
          expect(BigInt(text.replace('.', ''))).toBe(BigInt(amount));
        },
      ),
      { seed: 4217, numRuns: 500 },
    );
  });
});

describe('half-to-even rounding', () => {
  // The tie rule: exactly half goes to the even neighbour. 10% of 1005 is 100.5 → 100 (even, down);
  // 10% of 1015 is 101.5 → 102 (even, up). Half-up would give 101 and 102: always up on ties.
  it.each([
    [1005, 1000, 100],
    [1015, 1000, 102],
    [1025, 1000, 102],
    [1035, 1000, 104],
    [1004, 1000, 100],
    [1006, 1000, 101],
    [5, 1000, 0],
    [15, 1000, 2],
    [25, 1000, 2],
    [2, 250, 0],
    [1004, 1250, 126],
    [1012, 1250, 126],
    [0, 1000, 0],
    [12345, 10000, 12345],
  ])('percentOf(%i, %i bps) = %i', (amount, bps, expected) => {
    expect(percentOf(amount, bps)).toBe(expected);
  });

  it('is exact for amounts whose product with the rate passes 2^53', () => {
    // 9,007,199,254,740,991 × 9,999 would lose digits as a double; BigInt keeps them.
    expect(percentOf(Number.MAX_SAFE_INTEGER, 9999)).toBe(9_006_298_534_815_517);
    expect(divideHalfEven(25n, 10n)).toBe(2n);
    expect(divideHalfEven(35n, 10n)).toBe(4n);
  });

  it('refuses negative, fractional and unsafe inputs', () => {
    expect(() => percentOf(-1, 100)).toThrow(RangeError);
    expect(() => percentOf(10.5, 100)).toThrow(RangeError);
    expect(() => percentOf(10, 0.5)).toThrow(RangeError);
    expect(() => percentOf(2 ** 53, 100)).toThrow(RangeError);
  });

  it('agrees with an independent half-even rounding over random amounts and rates', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 10_000 }), (amount, bps) => {
        const exact = BigInt(amount) * BigInt(bps);
        const floor = exact / 10_000n;
        const remainder = exact - floor * 10_000n;
        const expected = remainder > 5_000n || (remainder === 5_000n && floor % 2n === 1n) ? floor + 1n : floor;
        expect(BigInt(percentOf(amount, bps))).toBe(expected);
      }),
      { seed: 1005, numRuns: 2_000 },
    );
  });
});

describe('splitting so the parts sum to the whole', () => {
  it.each([
    [100, [1, 1, 1], [33, 34, 33]],
    [1, [1, 1], [0, 1]],
    [3, [1, 1], [2, 1]],
    [10, [1, 0, 1], [5, 0, 5]],
    [0, [0, 0], [0, 0]],
    [999, [100], [999]],
    [12345, [1, 2, 3, 4], [1234, 2470, 3703, 4938]],
  ])('splitProportionally(%i, %j) = %j', (total, weights, parts) => {
    expect(splitProportionally(total, weights)).toEqual(parts);
  });

  it('refuses a non-zero total over zero weights, and no weights at all', () => {
    expect(() => splitProportionally(10, [0, 0])).toThrow(RangeError);
    expect(() => splitProportionally(10, [])).toThrow(RangeError);
  });

  it('always sums to the total, each part within one minor unit of its exact share', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e10 }),
        fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 12 }),
        (total, weights) => {
          const sum = weights.reduce((acc, weight) => acc + weight, 0);
          fc.pre(sum > 0);
          const parts = splitProportionally(total, weights);
          expect(parts.reduce((acc, part) => acc + part, 0)).toBe(total);
          parts.forEach((part, index) => {
            // |part × sum − total × weight| ≤ sum, in integers: within one unit of the exact share.
            const error = BigInt(part) * BigInt(sum) - BigInt(total) * BigInt(weights[index] as number);
            expect(error <= BigInt(sum) && error >= -BigInt(sum)).toBe(true);
          });
        },
      ),
      { seed: 77, numRuns: 1_000 },
    );
  });
});

describe('commission', () => {
  it.each([
    // Ties at 10%: half to even.
    { currency: 'JPY', amountMinor: 1005, rateBps: 1000, expected: 100 },
    { currency: 'JPY', amountMinor: 1015, rateBps: 1000, expected: 102 },
    { currency: 'GBP', amountMinor: 2505, rateBps: 1000, expected: 250 },
    { currency: 'GBP', amountMinor: 2515, rateBps: 1000, expected: 252 },
    { currency: 'KWD', amountMinor: 12345, rateBps: 1000, expected: 1234 },
    { currency: 'KWD', amountMinor: 12355, rateBps: 1000, expected: 1236 },
    { currency: 'BHD', amountMinor: 1, rateBps: 1000, expected: 0 },
    { currency: 'SAR', amountMinor: 15, rateBps: 1000, expected: 2 },
    { currency: 'SAR', amountMinor: 1004, rateBps: 1250, expected: 126 },
    { currency: 'SAR', amountMinor: 1012, rateBps: 1250, expected: 126 },
    { currency: 'GBP', amountMinor: 5000, rateBps: 0, expected: 0 },
    { currency: 'GBP', amountMinor: 5000, rateBps: 10_000, expected: 5000 },
  ])('$rateBps bps of $amountMinor $currency is $expected', ({ currency, amountMinor, rateBps, expected }) => {
    expect(commissionFor({ amountMinor, currency, rateBps })).toBe(expected);
  });

  const limits = {
    GBP: { min_minor: 100, max_minor: 5000 },
    KWD: { min_minor: 250 },
    BHD: { max_minor: 500 },
    SAR: { min_minor: 500, max_minor: 300 },
  };

  it.each([
    { name: 'raised to the minimum', currency: 'GBP', amountMinor: 500, expected: 100 },
    { name: 'lowered to the maximum', currency: 'GBP', amountMinor: 100_000, expected: 5000 },
    { name: 'inside the bounds', currency: 'GBP', amountMinor: 20_000, expected: 2000 },
    { name: 'the minimum, but never above the amount', currency: 'GBP', amountMinor: 80, expected: 80 },
    { name: 'a minimum only', currency: 'KWD', amountMinor: 1000, expected: 250 },
    { name: 'a maximum only', currency: 'BHD', amountMinor: 123_456, expected: 500 },
    { name: 'no bounds for this currency', currency: 'JPY', amountMinor: 500, expected: 50 },
    { name: 'a minimum above the maximum: the maximum wins', currency: 'SAR', amountMinor: 10_000, expected: 300 },
  ])('$name: $amountMinor $currency → $expected', ({ currency, amountMinor, expected }) => {
    expect(commissionFor({ amountMinor, currency, rateBps: 1000, limits })).toBe(expected);
  });

  it('a zero rate still meets a minimum; a zero amount gives zero', () => {
    expect(commissionFor({ amountMinor: 1000, currency: 'GBP', rateBps: 0, limits })).toBe(100);
    expect(commissionFor({ amountMinor: 0, currency: 'GBP', rateBps: 1000, limits })).toBe(0);
  });

  it('refuses rates outside 0..10000 bps and malformed bounds', () => {
    expect(() => commissionFor({ amountMinor: 100, currency: 'GBP', rateBps: 10_001 })).toThrow(RangeError);
    expect(() => commissionFor({ amountMinor: 100, currency: 'GBP', rateBps: -1 })).toThrow(RangeError);
    expect(() =>
      commissionFor({ amountMinor: 100, currency: 'GBP', rateBps: 100, limits: { GBP: { min_minor: 1.5 } } }),
    ).toThrow(RangeError);
  });
});

describe('minimum charges', () => {
  it.each([
    ['USD', 'stripe', 50],
    ['GBP', 'stripe', 30],
    ['EUR', 'stripe', 50],
    ['JPY', 'stripe', 50],
    ['HUF', 'stripe', 17500],
    // Not in Stripe's table: 0.50 USD or more at the peg, a three-decimal amount ending in 0.
    ['SAR', 'stripe', 200],
    ['KWD', 'stripe', 200],
    ['BHD', 'stripe', 200],
    ['JOD', 'stripe', 400],
    // Unknown to both tables: one whole unit as a floor.
    ['TRY', 'stripe', 100],
    ['ISK', 'stripe', 1],
    ['SAR', 'moyasar', 100],
    ['KWD', 'moyasar', 1000],
    ['GBP', 'simulated', 1],
    ['KWD', 'simulated', 1],
  ] as const)('%s on %s: %i', (currency, gateway, minimum) => {
    expect(minimumChargeMinor(currency, gateway)).toBe(minimum);
  });

  it('three-decimal minimums end in 0, as Stripe requires', () => {
    for (const currency of ['KWD', 'BHD', 'OMR', 'JOD']) {
      expect(minimumChargeMinor(currency, 'stripe') % 10).toBe(0);
    }
  });
});

describe('refund splits', () => {
  /** Applies refunds one after another as the service would, returning each split. */
  function refundAll(amountMinor: number, commissionMinor: number, refunds: number[]) {
    let alreadyRefundedMinor = 0;
    let alreadyReversedCommissionMinor = 0;
    return refunds.map((refundMinor) => {
      const split = refundSplit({
        refundMinor,
        amountMinor,
        commissionMinor,
        alreadyRefundedMinor,
        alreadyReversedCommissionMinor,
      });
      alreadyRefundedMinor += refundMinor;
      alreadyReversedCommissionMinor += split.commissionReversedMinor;
      return split;
    });
  }

  it.each([
    {
      name: 'GBP 9.99 (commission 1.00) in thirds',
      amount: 999,
      commission: 100,
      refunds: [333, 333, 333],
      reversed: [33, 34, 33],
    },
    {
      name: 'JPY 1005 (commission 100, a half-even tie) in two',
      amount: 1005,
      commission: 100,
      refunds: [501, 504],
      reversed: [50, 50],
    },
    {
      name: 'a tie inside the split: 101 × 500 / 1000 = 50.5 → 50',
      amount: 1000,
      commission: 101,
      refunds: [500, 500],
      reversed: [50, 51],
    },
    {
      name: 'a tie the other way: 103 × 500 / 1000 = 51.5 → 52',
      amount: 1000,
      commission: 103,
      refunds: [500, 500],
      reversed: [52, 51],
    },
    {
      name: 'KWD 12.345 (commission 1.234) in thirds',
      amount: 12345,
      commission: 1234,
      refunds: [4115, 4115, 4115],
      reversed: [411, 412, 411],
    },
    {
      name: 'BHD 0.007 (commission 0.001) a fils at a time',
      amount: 7,
      commission: 1,
      refunds: [1, 1, 1, 1, 1, 1, 1],
      reversed: [0, 0, 0, 1, 0, 0, 0],
    },
    {
      name: 'SAR 100.01 (commission 10.00), a partial refund only',
      amount: 10001,
      commission: 1000,
      refunds: [3333],
      reversed: [333],
    },
    {
      name: 'a commission of the whole amount goes back in full',
      amount: 50,
      commission: 50,
      refunds: [17, 33],
      reversed: [17, 33],
    },
    { name: 'no commission, nothing to reverse', amount: 777, commission: 0, refunds: [700, 77], reversed: [0, 0] },
  ])('$name', ({ amount, commission, refunds, reversed }) => {
    const splits = refundAll(amount, commission, refunds);
    expect(splits.map((split) => split.commissionReversedMinor)).toEqual(reversed);
    splits.forEach((split, index) => {
      expect(split.commissionReversedMinor + split.providerShareMinor).toBe(refunds[index]);
    });
    const total = refunds.reduce((acc, refund) => acc + refund, 0);
    if (total === amount) {
      expect(splits.reduce((acc, split) => acc + split.commissionReversedMinor, 0)).toBe(commission);
    }
  });

  it('refuses a refund beyond what is left with REFUND_EXCEEDS_CAPTURE', () => {
    const attempt = () =>
      refundSplit({
        refundMinor: 101,
        amountMinor: 1000,
        commissionMinor: 100,
        alreadyRefundedMinor: 900,
        alreadyReversedCommissionMinor: 90,
      });
    expect(attempt).toThrow(AppError);
    expect(attempt).toThrow(/exceeds the 100 left to refund/);
    try {
      attempt();
    } catch (error) {
      expect((error as AppError).code).toBe('REFUND_EXCEEDS_CAPTURE');
    }
  });

  it('refuses an empty refund and an impossible history', () => {
    const base = {
      amountMinor: 1000,
      commissionMinor: 100,
      alreadyRefundedMinor: 0,
      alreadyReversedCommissionMinor: 0,
    };
    expect(() => refundSplit({ ...base, refundMinor: 0 })).toThrow(RangeError);
    expect(() => refundSplit({ ...base, refundMinor: 10, alreadyReversedCommissionMinor: 101 })).toThrow(RangeError);
    expect(() => refundSplit({ ...base, refundMinor: 10, commissionMinor: 1001 })).toThrow(RangeError);
  });

  it('over random refund sequences: each split sums to its refund, reversals never exceed the commission and sum to it once all is refunded', () => {
    const scenario = fc
      .record({
        amount: fc.integer({ min: 1, max: 10_000_000 }),
        commissionShare: fc.integer({ min: 0, max: 10_000 }),
        cuts: fc.array(fc.integer({ min: 1, max: 1_000 }), { minLength: 1, maxLength: 8 }),
      })
      .map(({ amount, commissionShare, cuts }) => ({
        amount,
        commission: percentOf(amount, commissionShare),
        // Integer shares of the amount in proportion to the cuts: they sum to the amount.
        refunds: splitProportionally(amount, cuts).filter((refund) => refund > 0),
      }));
    fc.assert(
      fc.property(scenario, ({ amount, commission, refunds }) => {
        const splits = refundAll(amount, commission, refunds);
        let reversedSoFar = 0;
        let refundedSoFar = 0;
        splits.forEach((split, index) => {
          const refund = refunds[index] as number;
          expect(split.commissionReversedMinor + split.providerShareMinor).toBe(refund);
          expect(split.commissionReversedMinor).toBeGreaterThanOrEqual(0);
          expect(split.providerShareMinor).toBeGreaterThanOrEqual(0);
          reversedSoFar += split.commissionReversedMinor;
          refundedSoFar += refund;
          expect(reversedSoFar).toBeLessThanOrEqual(commission);
          // The running reversal is the proportional share of what was refunded, half to even.
          if (refundedSoFar < amount) {
            const exact = BigInt(commission) * BigInt(refundedSoFar);
            expect(divideHalfEven(exact, BigInt(amount))).toBe(BigInt(reversedSoFar));
          }
        });
        expect(refundedSoFar).toBe(amount);
        expect(reversedSoFar).toBe(commission);
      }),
      { seed: 20_261_123, numRuns: 1_000 },
    );
  });
});

describe('cancellation refunds', () => {
  const startsAt = new Date('2026-12-01T10:00:00.000Z');
  // 24 free hours: free until 2026-11-30T10:00:00.000Z, that instant included.
  const freeUntil = new Date('2026-11-30T10:00:00.000Z');
  const at = (ms: number) => new Date(freeUntil.getTime() + ms);
  const policy = { freeCancelHours: 24, lateCancelFeeBps: 2500, startsAt };

  it.each([
    { name: 'customer, a day before the boundary', by: 'customer', when: at(-86_400_000), expected: 10_000 },
    { name: 'customer, 1 ms before the boundary', by: 'customer', when: at(-1), expected: 10_000 },
    { name: 'customer, exactly at the boundary (until N hours before)', by: 'customer', when: at(0), expected: 10_000 },
    { name: 'customer, 1 ms after the boundary: 25% kept', by: 'customer', when: at(1), expected: 7_500 },
    { name: 'customer, after the start', by: 'customer', when: new Date('2026-12-01T11:00:00Z'), expected: 7_500 },
    { name: 'provider, after the boundary', by: 'provider', when: at(1), expected: 10_000 },
    { name: 'admin, after the start', by: 'admin', when: new Date('2026-12-02T00:00:00Z'), expected: 10_000 },
  ] as const)('$name → $expected', ({ by, when, expected }) => {
    expect(
      cancellationRefund({
        ...policy,
        capturedMinor: 10_000,
        alreadyRefundedMinor: 0,
        cancelledAt: when,
        cancelledBy: by,
      }),
    ).toBe(expected);
  });

  it.each([
    // The fee is half-even bps of the captured amount: 10% of 1005 is 100.5 → 100, so 905 back.
    { currency: 'JPY', captured: 1005, feeBps: 1000, expected: 905 },
    { currency: 'JPY', captured: 1015, feeBps: 1000, expected: 913 },
    { currency: 'GBP', captured: 2505, feeBps: 1000, expected: 2255 },
    { currency: 'KWD', captured: 12345, feeBps: 1000, expected: 11111 },
    { currency: 'BHD', captured: 7, feeBps: 5000, expected: 3 },
    { currency: 'SAR', captured: 10_001, feeBps: 0, expected: 10_001 },
    { currency: 'SAR', captured: 10_001, feeBps: 10_000, expected: 0 },
  ])(
    'late by the customer: $captured $currency with a $feeBps bps fee → $expected',
    ({ captured, feeBps, expected }) => {
      expect(
        cancellationRefund({
          startsAt,
          freeCancelHours: 24,
          lateCancelFeeBps: feeBps,
          capturedMinor: captured,
          alreadyRefundedMinor: 0,
          cancelledAt: at(1),
          cancelledBy: 'customer',
        }),
      ).toBe(expected);
    },
  );

  it('counts what was already refunded: the fee is what is kept in total', () => {
    const late = { ...policy, capturedMinor: 10_000, cancelledAt: at(1), cancelledBy: 'customer' as const };
    expect(cancellationRefund({ ...late, alreadyRefundedMinor: 2_000 })).toBe(5_500);
    expect(cancellationRefund({ ...late, alreadyRefundedMinor: 9_000 })).toBe(0);
    expect(cancellationRefund({ ...late, alreadyRefundedMinor: 2_000, cancelledAt: at(0) })).toBe(8_000);
    expect(cancellationRefund({ ...late, alreadyRefundedMinor: 2_000, cancelledBy: 'provider' })).toBe(8_000);
    expect(cancellationRefund({ ...late, alreadyRefundedMinor: 10_000, cancelledBy: 'admin' })).toBe(0);
  });

  it('with no free hours the boundary is the start itself', () => {
    const base = {
      startsAt,
      freeCancelHours: 0,
      lateCancelFeeBps: 1000,
      capturedMinor: 5_000,
      alreadyRefundedMinor: 0,
      cancelledBy: 'customer' as const,
    };
    expect(cancellationRefund({ ...base, cancelledAt: startsAt })).toBe(5_000);
    expect(cancellationRefund({ ...base, cancelledAt: new Date(startsAt.getTime() + 1) })).toBe(4_500);
  });

  it('refuses impossible inputs', () => {
    const base = {
      ...policy,
      capturedMinor: 1_000,
      alreadyRefundedMinor: 0,
      cancelledAt: at(1),
      cancelledBy: 'customer' as const,
    };
    expect(() => cancellationRefund({ ...base, alreadyRefundedMinor: 1_001 })).toThrow(RangeError);
    expect(() => cancellationRefund({ ...base, lateCancelFeeBps: 10_001 })).toThrow(RangeError);
    expect(() => cancellationRefund({ ...base, freeCancelHours: -1 })).toThrow(RangeError);
  });
});

describe("Stripe's units", () => {
  it.each([
    ['GBP', 1234, 1234],
    ['JPY', 1500, 1500],
    ['KWD', 1230, 1230],
    ['ISK', 7500, 750_000],
    ['UGX', 3700, 370_000],
    ['MGA', 1_000_000, 10_000],
  ])('%s: %i minor units are %i at Stripe, and back', (currency, minor, stripe) => {
    expect(toStripeAmount(minor, currency)).toBe(stripe);
    expect(fromStripeAmount(stripe, currency)).toBe(minor);
  });

  it('names the amounts Stripe cannot take exactly', () => {
    expect(stripeUnrepresentable(1005, 'KWD')).toMatch(/0\.010/);
    expect(stripeUnrepresentable(1010, 'KWD')).toBeNull();
    expect(stripeUnrepresentable(1_000_050, 'MGA')).toMatch(/whole units/);
    expect(stripeUnrepresentable(1_000_000, 'MGA')).toBeNull();
    expect(stripeUnrepresentable(1005, 'GBP')).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { isE164, smsSegments } from '../../src/modules/notifications/channels/sms-segments.js';

describe('smsSegments', () => {
  it('counts GSM-7 texts: 160 septets in one message, 153 per part beyond', () => {
    expect(smsSegments('a'.repeat(160))).toEqual({ encoding: 'GSM-7', segments: 1, units: 160 });
    expect(smsSegments('a'.repeat(161))).toEqual({ encoding: 'GSM-7', segments: 2, units: 161 });
    expect(smsSegments('a'.repeat(153 * 2))).toEqual({ encoding: 'GSM-7', segments: 2, units: 306 });
    expect(smsSegments('a'.repeat(153 * 2 + 1))).toEqual({ encoding: 'GSM-7', segments: 3, units: 307 });
  });

  it('bills an empty text as one GSM-7 segment', () => {
    expect(smsSegments('')).toEqual({ encoding: 'GSM-7', segments: 1, units: 0 });
  });

  it('keeps the whole GSM basic set (Greek capitals, newlines, @, £, é) in GSM-7', () => {
    const text = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà';
    expect(smsSegments(text)).toEqual({ encoding: 'GSM-7', segments: 1, units: [...text].length });
  });

  it('counts extension characters as two septets', () => {
    expect(smsSegments('^{}\\[~]|€\f')).toEqual({ encoding: 'GSM-7', segments: 1, units: 20 });
    expect(smsSegments('€'.repeat(80))).toEqual({ encoding: 'GSM-7', segments: 1, units: 160 });
    expect(smsSegments(`${'€'.repeat(80)}a`)).toEqual({ encoding: 'GSM-7', segments: 2, units: 161 });
  });

  it('never splits an escape pair across two parts', () => {
    // The € would take septets 153 and 154: it moves whole to the second part, which then overflows.
    const straddling = `${'a'.repeat(152)}€${'a'.repeat(152)}`;
    expect(smsSegments(straddling)).toEqual({ encoding: 'GSM-7', segments: 3, units: 306 });
    // One septet earlier it fits the first part exactly.
    const fitting = `${'a'.repeat(151)}€${'a'.repeat(153)}`;
    expect(smsSegments(fitting)).toEqual({ encoding: 'GSM-7', segments: 2, units: 306 });
  });

  it('counts UCS-2 texts: 70 units in one message, 67 per part beyond', () => {
    expect(smsSegments('ж'.repeat(70))).toEqual({ encoding: 'UCS-2', segments: 1, units: 70 });
    expect(smsSegments('ж'.repeat(71))).toEqual({ encoding: 'UCS-2', segments: 2, units: 71 });
    expect(smsSegments('ж'.repeat(67 * 2))).toEqual({ encoding: 'UCS-2', segments: 2, units: 134 });
    expect(smsSegments('ж'.repeat(67 * 2 + 1))).toEqual({ encoding: 'UCS-2', segments: 3, units: 135 });
  });

  it('counts an emoji as two UTF-16 units and never splits its surrogate pair', () => {
    expect(smsSegments('😀'.repeat(35))).toEqual({ encoding: 'UCS-2', segments: 1, units: 70 });
    expect(smsSegments('😀'.repeat(36))).toEqual({ encoding: 'UCS-2', segments: 2, units: 72 });
    // 33 emoji (66 units) per part: 67 of them take three parts, not two.
    expect(smsSegments('😀'.repeat(67))).toEqual({ encoding: 'UCS-2', segments: 3, units: 134 });
    const straddling = `${'ж'.repeat(66)}😀${'ж'.repeat(66)}`;
    expect(smsSegments(straddling)).toEqual({ encoding: 'UCS-2', segments: 3, units: 134 });
  });

  it('switches the whole text to UCS-2 for one character outside GSM (ê, not é)', () => {
    const base = 'a'.repeat(155);
    expect(smsSegments(`${base}Café`)).toEqual({ encoding: 'GSM-7', segments: 1, units: 159 });
    expect(smsSegments(`${base}Crêpe`)).toEqual({ encoding: 'UCS-2', segments: 3, units: 160 });
    expect(smsSegments('`')).toMatchObject({ encoding: 'UCS-2' });
  });
});

describe('isE164', () => {
  it.each([
    ['+447700900123', true],
    ['+14155552671', true],
    ['+12345678', true],
    ['+123456789012345', true],
    ['+1234567', false],
    ['+1234567890123456', false],
    ['447700900123', false],
    ['+0447700900123', false],
    ['+44 7700 900123', false],
    ['+44770090012a', false],
    ['+447700900123\n', false],
    ['', false],
  ])('%j → %s', (phone, expected) => {
    expect(isE164(phone)).toBe(expected);
  });
});

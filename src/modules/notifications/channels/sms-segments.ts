/**
 * How many SMS segments a text is billed as. A text that fits GSM 03.38 travels as 7-bit septets
 * (160 in one message, 153 per part of a concatenated one: the rest is the UDH); any other
 * character turns the whole text into UCS-2 (70 UTF-16 units, 67 per part).
 */

// GSM 03.38 basic character set, in code order (0x1B, the escape to the extension table, left out).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
// Reached through the escape septet, so each costs two septets.
const GSM_EXTENSION = new Set('\f^{}\\[~]|€');

const GSM_SINGLE = 160;
const GSM_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

export interface SmsSegments {
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
  /** Septets for GSM-7, UTF-16 code units for UCS-2. */
  units: number;
}

/**
 * Parts of `part` units each needed for characters of the given costs, a character never split
 * across two parts (an escape pair in GSM-7, a surrogate pair in UCS-2): a part with too little
 * room left is closed a unit short.
 */
function countParts(costs: number[], part: number): number {
  let parts = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > part) {
      parts += 1;
      used = 0;
    }
    used += cost;
  }
  return parts;
}

export function smsSegments(text: string): SmsSegments {
  // Iterating by code point keeps a surrogate pair together as one two-unit character.
  const characters = [...text];
  const gsm = characters.every((character) => GSM_BASIC.has(character) || GSM_EXTENSION.has(character));
  if (gsm) {
    const costs = characters.map((character) => (GSM_EXTENSION.has(character) ? 2 : 1));
    const units = costs.reduce((sum, cost) => sum + cost, 0);
    // An empty text still goes out as one (empty) message, and Twilio bills it as one segment.
    const segments = units <= GSM_SINGLE ? 1 : countParts(costs, GSM_PART);
    return { encoding: 'GSM-7', segments, units };
  }
  const costs = characters.map((character) => character.length);
  const units = text.length;
  const segments = units <= UCS2_SINGLE ? 1 : countParts(costs, UCS2_PART);
  return { encoding: 'UCS-2', segments, units };
}

/** An E.164 number: `+`, a country code not starting with 0, at most 15 digits in all. */
export function isE164(phone: string): boolean {
  return /^\+[1-9]\d{7,14}$/.test(phone);
}

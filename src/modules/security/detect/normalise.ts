/**
 * What an attacker's encoding hides, undone before any rule looks: percent-encoding (up to three
 * layers, so %252e is seen as "."), overlong UTF-8 dots and slashes, HTML character references,
 * full-width letters (NFKC), NUL bytes and backslash escapes like \x3c and \u003c.
 */

const ENTITY_NAMES: Record<string, string> = {
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  amp: '&',
  colon: ':',
  sol: '/',
  bsol: '\\',
  lpar: '(',
  rpar: ')',
  tab: '\t',
  newline: '\n',
  nbsp: ' ',
  equals: '=',
  semi: ';',
  period: '.',
  grave: '`',
};

// Overlong and odd UTF-8 forms of "." "/" "\" that old servers decoded; real clients never send them.
const OVERLONG: [RegExp, string][] = [
  [/%c0%ae|%e0%80%ae|%c0%2e|%uff0e|%u002e/gi, '.'],
  [/%c0%bc|%e0%80%bc/gi, '<'],
  [/%c0%be|%e0%80%be/gi, '>'],
  [/%c0%af|%e0%80%af|%c0%2f|%u2215|%uff0f|%u002f/gi, '/'],
  [/%c1%9c|%c0%5c|%u2216|%u005c/gi, '\\'],
];

function percentDecode(text: string): string {
  let current = text;
  for (let layer = 0; layer < 3 && current.includes('%'); layer++) {
    let next = current;
    for (const [pattern, replacement] of OVERLONG) next = next.replace(pattern, replacement);
    next = next.replace(/%u([0-9a-f]{4})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    next = next.replace(/(%[0-9a-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        // Not valid UTF-8 as a whole: decode byte by byte (Latin-1), which still exposes the ASCII.
        return run.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
      }
    });
    if (next === current) break;
    current = next;
  }
  return current;
}

function entityDecode(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);?/gi, (match, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number(body.slice(1));
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : match;
    }
    return ENTITY_NAMES[body.toLowerCase()] ?? match;
  });
}

function escapeDecode(text: string): string {
  if (!text.includes('\\')) return text;
  return text
    .replace(/\\x([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    .replace(/\\u\{?([0-9a-f]{4})\}?/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** The text as the rules see it: decoded, NFKC-normalised, without NUL and zero-width characters. */
export function normalise(raw: string): string {
  let text = raw;
  if (text.includes('%')) text = percentDecode(text);
  text = escapeDecode(entityDecode(text));
  // Full-width and other compatibility forms (＜ｓｃｒｉｐｔ＞) fold to ASCII; only non-ASCII text pays.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and friends are what is being removed.
  if (/[^\x00-\x7f]/.test(text))
    text = text
      .normalize('NFKC')
      .replace(/[\u200b-\u200d\u2060\ufeff]/g, '')
      // Ideographic and halfwidth full stops: 127。0。0。1 is an address to a URL parser.
      .replace(/[\u3002\uff61]/g, '.');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL bytes end strings in C: an attacker's truncation trick.
  if (text.includes('\u0000')) text = text.replace(/\u0000/g, '');
  return text;
}

/** True when nothing in the text can carry any rule's payload: letters, digits and a few separators. */
export function isPlain(raw: string): boolean {
  return (
    raw.length < 256 &&
    /^[A-Za-z0-9_\-/:@+.]*$/.test(raw) &&
    !raw.includes('//') &&
    !raw.includes('..') &&
    !raw.includes('__') &&
    !raw.includes('constructor') &&
    !raw.includes('prototype') &&
    !/(^|\/)(etc|proc|var|root|windows|boot)\//i.test(raw) &&
    !/^[a-z]+:\//i.test(raw)
  );
}

/**
 * Whether any rule could match: every payload needs a character or a word from this list (a quote
 * that is not an apostrophe inside a word, a bracket, an operator, a separator, an encoding, a
 * keyword). Ordinary prose has none and costs one regular expression instead of every rule.
 */
const MAY_CARRY =
  /(?<![a-z])['"`]|['"`](?![a-z])|[;=<>(){}|&\\\n\r\t]|--|\/\*|\.\.|\/\/|%[0-9a-f]{2}|%u[0-9a-f]{4}|__|\[\[|@@|@\{|!!|\$[a-z({$]|#[{\s\da-z]|~[a-z_]*\/|[\uff00-\uffef\u3002\u2215\u2216\u200b-\u200d\u2060\ufeff]|\b(?:union|select|information_schema|sysobjects|waitfor|sleep|benchmark|case\s+when|(?:r?like|between)\s+['"\d]|constructor|prototype|process\.|java\.|javascript|vbscript|script|data:|https?:|jar:|file:|gopher:|dict:|ldap:|netdoc:|phar:|expect:|etc\/|proc\/|windows\/|win\.ini|passwd|localhost|127\.\d|169\.254|0x[0-9a-f]{4}|exec|eval)/i;

export function mayCarryAttack(raw: string): boolean {
  return MAY_CARRY.test(raw) || raw.includes('\u0000');
}

// --- An iCalendar reader of the test's own, independent of the writer in src/ ---

export interface Property {
  name: string;
  params: Record<string, string>;
  value: string;
}

export interface Component {
  name: string;
  properties: Property[];
  components: Component[];
}

/** Physical lines back into content lines (RFC 5545 §3.1): a CRLF followed by a space or tab is removed. */
export const unfold = (text: string) => text.replace(/\r\n[ \t]/g, '').split('\r\n');

function parseLine(line: string): Property {
  // The value starts at the first colon outside a quoted parameter value.
  let quoted = false;
  let colon = -1;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"') quoted = !quoted;
    else if (line[i] === ':' && !quoted) {
      colon = i;
      break;
    }
  }
  if (colon < 0) throw new Error(`not a content line: ${line}`);
  const [name, ...params] = line.slice(0, colon).split(';');
  return {
    name: (name as string).toUpperCase(),
    params: Object.fromEntries(params.map((param) => param.split('=', 2) as [string, string])),
    value: line.slice(colon + 1),
  };
}

/** The VCALENDAR of an .ics body; throws on unbalanced BEGIN/END or text after the end. */
export function parseIcs(text: string): Component {
  const lines = unfold(text);
  if (lines.at(-1) !== '') throw new Error('the body does not end with CRLF');
  lines.pop();
  const stack: Component[] = [];
  let root: Component | undefined;
  for (const line of lines) {
    if (root) throw new Error(`content after END:VCALENDAR: ${line}`);
    const property = parseLine(line);
    if (property.name === 'BEGIN') {
      const component: Component = { name: property.value, properties: [], components: [] };
      stack.at(-1)?.components.push(component);
      stack.push(component);
    } else if (property.name === 'END') {
      const component = stack.pop();
      if (component?.name !== property.value) throw new Error(`END:${property.value} closes ${component?.name}`);
      if (stack.length === 0) root = component;
    } else {
      const current = stack.at(-1);
      if (!current) throw new Error(`property outside a component: ${line}`);
      current.properties.push(property);
    }
  }
  if (root?.name !== 'VCALENDAR') throw new Error('no VCALENDAR');
  return root;
}

export const prop = (component: Component, name: string) => component.properties.find((p) => p.name === name);
export const value = (component: Component, name: string) => prop(component, name)?.value;
export const children = (component: Component, name: string) => component.components.filter((c) => c.name === name);

/** A TEXT value as written (§3.3.11) read back. */
export const unescapeText = (text: string) =>
  text.replace(/\\([\\;,nN])/g, (_match, char: string) => (char === 'n' || char === 'N' ? '\n' : char));

/** 20270325T100000 (local or with Z) as "that wall clock read as UTC" milliseconds. */
export function floatingMs(text: string): number {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z?$/.exec(text);
  if (!match) throw new Error(`not a DATE-TIME: ${text}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}

const offsetMs = (text: string) => {
  const match = /^([+-])(\d{2})(\d{2})$/.exec(text);
  if (!match) throw new Error(`not a UTC-OFFSET: ${text}`);
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) * 60_000;
};

/**
 * The instant a local DATE-TIME of a VTIMEZONE names, by that component alone: the observance
 * in force is the latest whose onset (its DTSTART read with TZOFFSETFROM) is at or before it.
 */
export function instantOf(vtimezone: Component, local: string): Date {
  const onsets = vtimezone.components
    .map((observance) => ({
      onset: floatingMs(value(observance, 'DTSTART') as string) - offsetMs(value(observance, 'TZOFFSETFROM') as string),
      to: offsetMs(value(observance, 'TZOFFSETTO') as string),
    }))
    .sort((a, b) => a.onset - b.onset);
  const localMs = floatingMs(local);
  for (let i = onsets.length - 1; i >= 0; i--) {
    const observance = onsets[i] as { onset: number; to: number };
    const instant = localMs - observance.to;
    if (instant >= observance.onset) return new Date(instant);
  }
  throw new Error(`${local} is before the VTIMEZONE's first observance`);
}

// The dashboard's panels, drawn from report data as inline SVG and plain elements. Text goes in
// only through textContent: report data is never parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';
export const DAY_MS = 86_400_000;
const numbers = new Intl.NumberFormat('en-GB');

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}
export const h = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
const s = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);

const count = (n) => numbers.format(n ?? 0);
const percent = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)}%`);
const label = (key) => key.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase());
export const isoDay = (date) => date.toISOString().slice(0, 10);

/** The key figures: sign-ups, activation, trials and premium. */
export function kpiTiles(activation, conversion) {
  const tile = (name, value, detail) =>
    h('div', { class: 'kpi', 'data-testid': `kpi-${name}` }, h('strong', { text: value }), h('span', { text: detail }));
  return h(
    'div',
    { class: 'kpi-row' },
    tile('signups', count(activation.signups), 'sign-ups'),
    tile('activated', count(activation.activated), `activated · ${percent(activation.rate)}`),
    tile('trials', count(conversion.trials_started), `trials · ${percent(conversion.free_to_trial_rate)} of free`),
    tile('premium', count(conversion.premium), `premium · ${percent(conversion.trial_to_premium_rate)} of trials`),
  );
}

/** One journey's funnel: a bar per step, its count, and its conversion from the step before. */
export function funnelChart(journey, steps) {
  const max = Math.max(1, ...steps.map((step) => step.count));
  const rowHeight = 36;
  const labelWidth = 150;
  const barWidth = 230;
  const svg = s('svg', {
    viewBox: `0 0 ${labelWidth + barWidth + 160} ${steps.length * rowHeight}`,
    role: 'img',
    'aria-label': `${label(journey)} funnel: ${steps.map((step) => `${label(step.step)} ${step.count}`).join(', ')}`,
  });
  steps.forEach((step, index) => {
    const y = index * rowHeight;
    const width = step.count > 0 ? Math.max(2, (step.count / max) * barWidth) : 0;
    const conversion = index === 0 ? '' : `${percent(step.conversion_from_previous)} of previous`;
    svg.append(
      s(
        'g',
        { 'data-testid': `funnel-step-${step.step}`, 'data-count': step.count },
        s('title', {
          text: `${label(step.step)} (${step.event}): ${count(step.count)}, ${percent(step.conversion_from_start)} of start`,
        }),
        s('text', { x: 0, y: y + 22, class: 'axis-label', text: label(step.step) }),
        s('rect', { x: labelWidth, y: y + 6, width: barWidth, height: 24, class: 'track' }),
        s('rect', { x: labelWidth, y: y + 6, width, height: 24, class: 'bar' }),
        // The count sits inside a bar wide enough to hold it, else just after the bar.
        width >= 40
          ? s('text', { x: labelWidth + 6, y: y + 23, class: 'bar-label', text: count(step.count) })
          : s('text', { x: labelWidth + width + 6, y: y + 23, class: 'axis-label', text: count(step.count) }),
        s('text', { x: labelWidth + barWidth + 8, y: y + 23, class: 'muted-label', text: conversion }),
      ),
    );
  });
  return svg;
}

/**
 * Every day from `from` to `to` (at most 400): the API lists only days with data, the others are
 * drawn as `empty(day)` so the axis covers the whole range.
 */
function everyDay(from, to, listed, empty) {
  const byDay = new Map(listed.map((day) => [day.day, day]));
  const days = [];
  for (let time = Date.parse(from); time <= Date.parse(to) && days.length < 400; time += DAY_MS) {
    const day = isoDay(new Date(time));
    days.push(byDay.get(day) ?? empty(day));
  }
  return days;
}

/**
 * Values per day: `bars` (one or more series, side by side in each day's slot) and an optional
 * `line`, on one scale that always includes zero (a series may go below it), with the first,
 * middle and last day under the axis. `title(day)` is each day's tooltip, `tick(value)` an axis label.
 */
function dailyChart(days, { bars, line, title, tick = count, label, left = 36 }) {
  const width = 520;
  const height = 180;
  const bottom = 20;
  const values = days.flatMap((day) => [...bars.map((bar) => day[bar.key]), ...(line ? [day[line.key]] : [])]);
  const max = Math.max(1, ...values);
  const min = Math.min(0, ...values);
  const step = (width - left) / days.length;
  const yOf = (value) => height - bottom - ((value - min) / (max - min)) * (height - bottom - 8);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label });
  for (const value of min < 0 ? [min, 0, max] : [0, Math.round(max / 2), max]) {
    svg.append(
      s('line', { x1: left, x2: width, y1: yOf(value), y2: yOf(value), class: 'grid-line' }),
      s('text', { x: left - 4, y: yOf(value) + 4, class: 'axis-label end', text: tick(value) }),
    );
  }
  const barWidth = (step * 0.7) / bars.length;
  days.forEach((day, index) => {
    svg.append(
      s(
        'g',
        {},
        s('title', { text: title(day) }),
        bars.map((bar, position) => {
          const value = day[bar.key];
          const y = yOf(Math.max(0, value));
          return s('rect', {
            x: left + index * step + step * 0.15 + position * barWidth,
            y,
            width: barWidth,
            height: Math.abs(yOf(value) - yOf(0)),
            class: bar.class,
          });
        }),
      ),
    );
  });
  if (line) {
    const points = days.map((day, index) => `${left + (index + 0.5) * step},${yOf(day[line.key])}`).join(' ');
    svg.append(s('polyline', { points, class: line.class }));
  }
  const middle = Math.floor((days.length - 1) / 2);
  const ticks = [
    [0, left, 'axis-label'],
    [middle, left + (middle + 0.5) * step, 'axis-label middle'],
    [days.length - 1, width, 'axis-label end'],
  ];
  for (const [index, x, className] of days.length < 3 ? ticks.slice(1, 2) : ticks) {
    svg.append(s('text', { x, y: height - 4, class: className, text: days[index].day.slice(5) }));
  }
  return svg;
}

/** A legend entry: a swatch of `kind` (bar-swatch, line-swatch, ...) and its name. */
const legendItem = (kind, text) => [h('span', { class: `swatch ${kind}` }), ` ${text} `];

/** Events per day (bars) and active subjects (line) over the report's range, with the score summary. */
export function eventsChart(data) {
  const total = data.daily.reduce((sum, day) => sum + day.events, 0);
  const days = everyDay(data.from, data.to, data.daily, (day) => ({ day, events: 0, active_subjects: 0 }));
  const summary = h('p', {
    class: 'summary',
    'data-testid': 'events-total',
    'data-total': total,
    text:
      `${count(total)} events · ${count(data.active_subjects)} active · score avg ${data.average_score ?? '—'}, ` +
      `median ${data.median_score ?? '—'} · ` +
      data.buckets.map((bucket) => `${bucket.bucket} ${count(bucket.subjects)}`).join(', '),
  });
  if (total === 0) return h('div', {}, summary, h('p', { class: 'muted', text: 'No events in this range.' }));
  const svg = dailyChart(days, {
    bars: [{ key: 'events', class: 'bar' }],
    line: { key: 'active_subjects', class: 'line' },
    title: (day) => `${day.day}: ${count(day.events)} events, ${count(day.active_subjects)} active`,
    label: `Events per day from ${days[0].day} to ${days.at(-1).day}, ${total} in all`,
  });
  const legend = h(
    'p',
    { class: 'legend' },
    legendItem('bar-swatch', 'events'),
    legendItem('line-swatch', 'active subjects'),
  );
  return h('div', {}, summary, svg, legend);
}

/**
 * ISO 4217 minor-unit exponents other than 2, as the payments module keeps them
 * (CURRENCY_EXPONENTS in src/modules/payments/payments.money.ts; a test holds the two equal).
 * Not Intl's digits: those are display conventions (0 for COP, HUF, IDR, PKR) and would show
 * amounts stored in hundredths a hundred times too large.
 */
export const CURRENCY_EXPONENTS = Object.freeze({
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

/** Minor units of `currency` as money text ('£65.00'); `compact` for axis labels ('£1.2K'). */
export function moneyFormat(currency, { compact = false } = {}) {
  const exponent = CURRENCY_EXPONENTS[currency] ?? 2;
  const options = compact
    ? { notation: 'compact', maximumFractionDigits: 1 }
    : { minimumFractionDigits: exponent, maximumFractionDigits: exponent };
  let format;
  try {
    format = new Intl.NumberFormat('en-GB', { style: 'currency', currency, ...options });
  } catch {
    // A code Intl does not know: the number and the code.
    const plain = new Intl.NumberFormat('en-GB', options);
    format = { format: (value) => `${plain.format(value)} ${currency}` };
  }
  return (minor) => format.format((minor ?? 0) / 10 ** exponent);
}

const AMOUNTS = [
  ['gross_minor', 'GMV', 'Money captured: bookings and subscriptions'],
  ['commission_minor', 'Commission', 'The platform’s revenue from it: commission, and whole subscriptions'],
  ['refunds_minor', 'Refunds', 'Money refunded to customers'],
  ['net_minor', 'Net', 'Revenue less the commission given back with refunds'],
];

/** One currency's days: GMV and refunds as bars, net as a line. */
function revenueChart(currency, summary, total) {
  const money = moneyFormat(currency);
  const listed = summary.days.filter((day) => day.currency === currency);
  const days = everyDay(summary.from, summary.to, listed, (day) => ({
    day,
    currency,
    gross_minor: 0,
    commission_minor: 0,
    refunds_minor: 0,
    net_minor: 0,
  }));
  const svg = dailyChart(days, {
    bars: [
      { key: 'gross_minor', class: 'bar' },
      { key: 'refunds_minor', class: 'bar refund' },
    ],
    line: { key: 'net_minor', class: 'line' },
    title: (day) => `${day.day}: ${AMOUNTS.map(([key, name]) => `${name} ${money(day[key])}`).join(', ')}`,
    tick: moneyFormat(currency, { compact: true }),
    label: `${currency} per day from ${summary.from} to ${summary.to}: GMV ${money(total.gross_minor)}, net ${money(total.net_minor)}`,
    left: 56,
  });
  return h(
    'figure',
    { class: 'revenue-chart', 'data-testid': `revenue-chart-${currency}`, 'data-days': listed.length },
    h(
      'figcaption',
      {},
      h('strong', { text: currency }),
      ` GMV ${money(total.gross_minor)} · net ${money(total.net_minor)}`,
    ),
    svg,
  );
}

/**
 * The revenue panel: a chart per currency, the totals by currency, and `download` (the link to
 * the days as CSV). Amounts in different currencies are never added up.
 */
export function revenuePanel(summary, { download, note } = {}) {
  const currencies = summary.totals.map((total) => total.currency);
  const head = h('p', {
    class: 'summary',
    'data-testid': 'revenue-summary',
    'data-currencies': currencies.length,
    text:
      `${summary.from} to ${summary.to}, UTC · ` +
      (currencies.length === 0
        ? 'no payments'
        : `${currencies.length} currenc${currencies.length === 1 ? 'y' : 'ies'}`) +
      (note ? ` · ${note}` : ''),
  });
  const footer = download ? h('p', { class: 'download' }, download) : null;
  if (summary.days.length === 0) {
    return h(
      'div',
      {},
      head,
      h('p', { class: 'muted', 'data-testid': 'revenue-empty', text: 'No payments in this range.' }),
      footer,
    );
  }
  const charts = summary.totals.map((total) => revenueChart(total.currency, summary, total));
  const legend = h(
    'p',
    { class: 'legend' },
    legendItem('bar-swatch', 'GMV'),
    legendItem('refund-swatch', 'refunds'),
    legendItem('line-swatch', 'net'),
  );
  const rows = summary.totals.map((total) => {
    const money = moneyFormat(total.currency);
    return h(
      'tr',
      {
        'data-testid': `revenue-total-${total.currency}`,
        ...Object.fromEntries(AMOUNTS.map(([key]) => [`data-${key.replace('_', '-')}`, total[key]])),
      },
      h('th', { scope: 'row', text: total.currency }),
      AMOUNTS.map(([key]) => h('td', { class: `num${total[key] < 0 ? ' negative' : ''}`, text: money(total[key]) })),
    );
  });
  const table = h(
    'table',
    { class: 'totals' },
    h('caption', { class: 'muted', text: 'Totals by currency' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col', text: 'Currency' }),
        AMOUNTS.map(([, text, title]) => h('th', { scope: 'col', class: 'num', title, text })),
      ),
    ),
    h('tbody', {}, rows),
  );
  return h('div', {}, head, h('div', { class: 'revenue-charts' }, charts), legend, table, footer);
}

// Square root: typical retention (10-50%) spreads over most of the scale instead of its pale end.
const heat = (rate) => Math.sqrt(Math.min(1, Math.max(0, rate)));

function heatColour(rate) {
  // From a pale to a deep teal as the rate goes from 0 to 1.
  const mix = (a, b) => Math.round(a + (b - a) * heat(rate));
  return `rgb(${mix(230, 13)}, ${mix(245, 110)}, ${mix(243, 110)})`;
}

/** Weekly sign-up cohorts against day-7 and day-30 retention, as a heatmap. */
export function retentionHeatmap(cohorts) {
  if (cohorts.length === 0) return h('p', { class: 'muted', text: 'No sign-up cohorts in this range.' });
  const rowHeight = 30;
  const columns = [
    ['day_7', 'Day 7'],
    ['day_30', 'Day 30'],
  ];
  const first = 150;
  const cellWidth = 140;
  const svg = s('svg', {
    viewBox: `0 0 ${first + cellWidth * columns.length} ${(cohorts.length + 1) * rowHeight}`,
    role: 'img',
    'aria-label': 'Retention heatmap: weekly sign-up cohorts by day 7 and day 30',
  });
  svg.append(s('text', { x: 0, y: 20, class: 'axis-label strong', text: 'Cohort (size)' }));
  columns.forEach(([, title], column) => {
    svg.append(
      s('text', {
        x: first + column * cellWidth + cellWidth / 2,
        y: 20,
        class: 'axis-label middle strong',
        text: title,
      }),
    );
  });
  cohorts.forEach((cohort, row) => {
    const y = (row + 1) * rowHeight;
    svg.append(
      s('text', { x: 0, y: y + 20, class: 'axis-label', text: `${cohort.cohort_week} (${count(cohort.size)})` }),
    );
    columns.forEach(([key, title], column) => {
      const cell = cohort[key];
      const x = first + column * cellWidth;
      const measured = cell.measurable && cell.rate !== null;
      svg.append(
        s(
          'g',
          { 'data-testid': `retention-${cohort.cohort_week}-${key}`, 'data-retained': cell.retained },
          s('title', {
            text: measured
              ? `Week of ${cohort.cohort_week}, ${title}: ${cell.retained} of ${cohort.size} (${percent(cell.rate)})`
              : `Week of ${cohort.cohort_week}, ${title}: not measurable yet`,
          }),
          s('rect', {
            x: x + 2,
            y: y + 2,
            width: cellWidth - 4,
            height: rowHeight - 4,
            rx: 3,
            fill: measured ? heatColour(cell.rate) : null,
            class: measured ? 'cell' : 'cell pending',
          }),
          s('text', {
            x: x + cellWidth / 2,
            y: y + 20,
            class: `cell-label${measured && heat(cell.rate) > 0.6 ? ' on-dark' : ''}`,
            text: measured ? `${count(cell.retained)} · ${percent(cell.rate)}` : 'not yet',
          }),
        ),
      );
    });
  });
  return svg;
}

/** The 20 most viewed items, low performers flagged. */
export function contentTable(items) {
  if (items.length === 0) return h('p', { class: 'muted', text: 'No content views in this range.' });
  const max = Math.max(1, ...items.map((item) => item.views));
  const rows = items
    .slice(0, 20)
    .map((item) =>
      h(
        'tr',
        { class: item.low_performer ? 'low' : null, 'data-testid': `content-row-${item.content_id}` },
        h('td', { class: 'num', text: item.rank }),
        h('td', { text: item.title ?? '(untitled)' }),
        h(
          'td',
          { class: 'views' },
          s(
            'svg',
            { viewBox: '0 0 100 10', class: 'inline-bar', 'aria-hidden': 'true' },
            s('rect', { x: 0, y: 1, width: Math.max(1, (item.views / max) * 100), height: 8, class: 'bar' }),
          ),
          h('span', { class: 'num', text: count(item.views) }),
        ),
        h('td', { class: 'num', text: count(item.unique_viewers) }),
        h('td', { class: 'num', text: percent(item.plan_view_conversion) }),
        h('td', {}, item.low_performer ? h('span', { class: 'badge', text: 'Low performer' }) : ''),
      ),
    );
  const header = [
    ['Rank'],
    ['Title'],
    ['Views'],
    ['Unique viewers'],
    ['Viewed plans', 'Share of its viewers who went on to view the plans'],
    ['Flag'],
  ];
  return h(
    'table',
    {},
    h('caption', { class: 'muted', text: `Top ${rows.length} of ${items.length} by views` }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        header.map(([text, title]) => h('th', { scope: 'col', title, text })),
      ),
    ),
    h('tbody', {}, rows),
  );
}

/** The health report: overall status, version, uptime and each component. */
export function healthPanel(health) {
  const services = Object.entries(health.services ?? {});
  const uptime =
    health.uptime === undefined
      ? ''
      : ` · up ${Math.floor(health.uptime / 3600)} h ${Math.floor((health.uptime % 3600) / 60)} min`;
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'summary' },
      h('span', { class: `status ${health.status}`, 'data-testid': 'health-status', text: health.status }),
      health.version ? ` version ${health.version}${uptime}` : '',
    ),
    h(
      'ul',
      { class: 'components' },
      services.map(([name, service]) =>
        h(
          'li',
          { 'data-testid': `health-${name}`, 'data-status': service.status },
          h('span', { class: `dot ${service.status}`, 'aria-hidden': 'true' }),
          h('strong', { text: name }),
          ` ${label(service.status)}`,
          service.kind ? ` · ${service.kind}` : '',
          service.latency_ms === undefined ? '' : ` · ${service.latency_ms} ms`,
          service.checked_at ? ` · last run ${service.checked_at.slice(0, 16).replace('T', ' ')} UTC` : '',
          service.error ? h('span', { class: 'error', text: ` · ${service.error}` }) : '',
        ),
      ),
    ),
  );
}

/** Security summary: events by type, the busiest addresses and the active blocks. */
export function securityPanel(summary) {
  const types = Object.entries(summary.by_type ?? {}).sort((a, b) => b[1] - a[1]);
  const total = types.reduce((sum, [, count]) => sum + count, 0);
  return h(
    'div',
    {},
    h('p', { class: 'summary', 'data-testid': 'security-total', text: `${total} event${total === 1 ? '' : 's'}` }),
    types.length === 0
      ? h('p', { text: 'Nothing detected.' })
      : h(
          'ul',
          { class: 'components', 'data-testid': 'security-types' },
          types.map(([type, count]) => h('li', { 'data-type': type }, h('strong', { text: type }), ` ${count}`)),
        ),
    h('h3', { text: 'Busiest addresses' }),
    summary.top_ips.length === 0
      ? h('p', { text: 'None.' })
      : h(
          'table',
          { 'data-testid': 'security-top-ips' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Address', 'Events', 'Points', 'Last seen', 'Blocked'].map((text) => h('th', { text })),
            ),
          ),
          h(
            'tbody',
            {},
            summary.top_ips.map((row) =>
              h(
                'tr',
                {},
                h('td', { text: row.ip }),
                h('td', { text: String(row.events) }),
                h('td', { text: String(row.points) }),
                h('td', { text: row.last_seen.slice(0, 16).replace('T', ' ') }),
                h('td', { text: row.blocked ? 'yes' : 'no' }),
              ),
            ),
          ),
        ),
    h('h3', { text: `Active blocks (${summary.active_blocks.length})` }),
    h(
      'ul',
      { class: 'components', 'data-testid': 'security-blocks' },
      summary.active_blocks.map((block) =>
        h(
          'li',
          {},
          h('strong', { text: block.ip }),
          ` until ${block.expires_at.slice(0, 16).replace('T', ' ')} UTC · ${block.source} · ${block.reason}`,
        ),
      ),
    ),
  );
}

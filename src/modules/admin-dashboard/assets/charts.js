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

/** Events per day (bars) and active subjects (line) over the report's range, with the score summary. */
export function eventsChart(data) {
  const total = data.daily.reduce((sum, day) => sum + day.events, 0);
  // The API lists days with events; quiet days are drawn as zero so the axis is the whole range.
  const byDay = new Map(data.daily.map((day) => [day.day, day]));
  const days = [];
  for (let time = Date.parse(data.from); time <= Date.parse(data.to) && days.length < 400; time += DAY_MS) {
    const day = isoDay(new Date(time));
    days.push(byDay.get(day) ?? { day, events: 0, active_subjects: 0 });
  }
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
  const width = 520;
  const height = 180;
  const left = 36;
  const bottom = 20;
  const max = Math.max(1, ...days.map((day) => day.events));
  const step = (width - left) / days.length;
  const yOf = (value) => height - bottom - (value / max) * (height - bottom - 8);
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Events per day from ${days[0].day} to ${days.at(-1).day}, ${total} in all`,
  });
  for (const tick of [0, Math.round(max / 2), max]) {
    svg.append(
      s('line', { x1: left, x2: width, y1: yOf(tick), y2: yOf(tick), class: 'grid-line' }),
      s('text', { x: left - 4, y: yOf(tick) + 4, class: 'axis-label end', text: count(tick) }),
    );
  }
  days.forEach((day, index) => {
    const y = yOf(day.events);
    svg.append(
      s(
        'rect',
        { x: left + index * step + step * 0.15, y, width: step * 0.7, height: height - bottom - y, class: 'bar' },
        s('title', { text: `${day.day}: ${count(day.events)} events, ${count(day.active_subjects)} active` }),
      ),
    );
  });
  const points = days.map((day, index) => `${left + (index + 0.5) * step},${yOf(day.active_subjects)}`).join(' ');
  svg.append(s('polyline', { points, class: 'line' }));
  // First, middle and last day under the axis, kept inside the chart's edges.
  const ticks = [
    [0, left, 'axis-label'],
    [Math.floor((days.length - 1) / 2), left + (Math.floor((days.length - 1) / 2) + 0.5) * step, 'axis-label middle'],
    [days.length - 1, width, 'axis-label end'],
  ];
  for (const [index, x, className] of days.length < 3 ? ticks.slice(1, 2) : ticks) {
    svg.append(s('text', { x, y: height - 4, class: className, text: days[index].day.slice(5) }));
  }
  const legend = h(
    'p',
    { class: 'legend' },
    h('span', { class: 'swatch bar-swatch' }),
    ' events ',
    h('span', { class: 'swatch line-swatch' }),
    ' active subjects',
  );
  return h('div', {}, summary, svg, legend);
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

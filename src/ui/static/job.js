import { colours, el, fill, fmtCount, fmtNum, fmtPct, getJson, poll, runHref, showError } from '/static/common.js';

const job = decodeURIComponent(location.pathname.split('/')[2]);
const outputSelect = document.getElementById('output');
let output = new URLSearchParams(location.search).get('output') ?? '';
const charts = [];

fill(document.getElementById('job-name'), job);
document.title = `batchinfer: job ${job}`;
document.getElementById('runs-link').href = `/?${new URLSearchParams({ job })}`;

/** A logical date (YYYY-MM-DD) as uPlot's x: seconds since the epoch, midnight UTC. */
const dayX = (d) => Date.parse(`${d}T00:00:00Z`) / 1000;

function lineChart(id, label, xs, ys, format) {
  const figure = document.getElementById(id);
  figure.querySelector('.chart')?.remove();
  const box = el('div', { className: 'chart' });
  figure.append(box);
  const chart = new uPlot(
    {
      width: 440,
      height: 200,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      legend: { show: false },
      scales: { x: { time: true }, y: { range: (u, min, max) => (min === null ? [0, 1] : [Math.min(0, min), max > min ? max * 1.1 : max + 1]) } },
      axes: [{ size: 52 }, { values: (u, splits) => splits.map(format), size: 56 }],
      series: [{}, { label, stroke: colours.line, width: 2, fill: `${colours.line}22`, spanGaps: false, points: { show: true, size: 6 } }],
    },
    [xs, ys],
    box,
  );
  charts.push(chart);
}

async function load() {
  const q = output ? `?${new URLSearchParams({ output })}` : '';
  const data = await getJson(`/api/jobs/${encodeURIComponent(job)}${q}`);
  fill(document.getElementById('latest-view'), data.result_table ? `${data.result_table}_latest` : '_latest');
  fill(outputSelect, data.outputs.length ? data.outputs.map((o) => el('option', { value: o }, o)) : el('option', { value: '' }, 'no profiled output'));
  outputSelect.value = data.output ?? '';
  const xs = data.dates.map((d) => dayX(d.logical_date));
  while (charts.length) charts.pop().destroy();
  lineChart('chart-rows', 'rows read', xs, data.dates.map((d) => d.rows_read), (v) => fmtCount(Math.round(v)));
  lineChart('chart-rejects', 'reject rate', xs, data.dates.map((d) => d.reject_rate), (v) => fmtPct(v));
  lineChart('chart-prediction', `mean ${data.output ?? 'prediction'}`, xs, data.dates.map((d) => d.mean_prediction), (v) => fmtNum(v, 3));
  lineChart('chart-psi', 'max PSI', xs, data.dates.map((d) => d.max_psi), (v) => fmtNum(v, 3));
  fill(
    document.querySelector('#dates tbody'),
    [...data.dates].reverse().map((d) =>
      el(
        'tr',
        { dataset: { date: d.logical_date } },
        el('td', {}, d.logical_date),
        el('td', {}, d.latest_run_id === null ? el('span', { className: 'muted' }, 'nothing (no succeeded run)') : el('a', { href: runHref(d.latest_run_id) }, `run ${d.latest_run_id}`)),
        el('td', { className: 'num' }, fmtCount(d.rows_read)),
        el('td', { className: 'num' }, fmtPct(d.reject_rate)),
        el('td', { className: 'num' }, fmtNum(d.mean_prediction)),
        el('td', { className: 'num' }, fmtNum(d.max_psi)),
        el('td', {}, d.newest_run_id === d.latest_run_id ? '' : [el('a', { href: runHref(d.newest_run_id) }, `run ${d.newest_run_id}`), ` ${d.newest_status}`]),
        el('td', { className: 'num' }, String(d.runs)),
      ),
    ),
  );
  return data.dates.some((d) => d.newest_status === 'queued' || d.newest_status === 'running');
}

outputSelect.addEventListener('change', () => {
  output = outputSelect.value;
  history.replaceState(null, '', output ? `?${new URLSearchParams({ output })}` : location.pathname);
  load().catch(showError);
});
poll(load, (active) => (active ? 2000 : 30000));

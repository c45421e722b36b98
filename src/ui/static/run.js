import { clearError, colours, driftBadge, el, fill, fmtCount, fmtDuration, fmtNum, getJson, isActive, jobHref, poll, runHref, showError, statusBadge } from '/static/common.js';

const runId = location.pathname.split('/')[2];
const REJECTS_PAGE = 50;
const LIVE_MS = 2000;
let rejectOffset = 0;
let wasActive;

fill(document.getElementById('run-id'), runId);
document.title = `batchinfer: run ${runId}`;

function summary(run) {
  const rows = [
    ['Status', statusBadge(run)],
    ['Job', el('a', { href: jobHref(run.job) }, run.job)],
    ['Logical date', run.logical_date],
    ['Trigger', run.trigger],
    ['Rows', `${fmtCount(run.rows_read)} read, ${fmtCount(run.rows_scored)} scored, ${fmtCount(run.rows_rejected)} rejected`],
    [isActive(run.status) ? 'Running for' : 'Duration', fmtDuration(run.duration_s)],
    ['Model version', el('span', { className: 'mono' }, run.model_version)],
    ['Result table', el('span', { className: 'mono' }, run.result_table)],
    ['Drift', driftBadge(run)],
  ];
  if (run.rows_per_s) rows.push(['Speed', `${fmtCount(run.rows_per_s)} rows/s${run.eta_s !== null ? `, about ${fmtDuration(run.eta_s)} left` : ''}`]);
  if (run.error) rows.push(['Error', el('span', { className: 'error-text' }, run.error)]);
  for (const w of run.warnings ?? []) rows.push(['Warning', w]);
  for (const c of run.chunk_errors ?? []) rows.push([`Chunk ${c.chunk}`, el('span', { className: 'error-text' }, c.error)]);
  fill(document.getElementById('summary'), rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  const job = document.getElementById('job-link');
  job.href = jobHref(run.job);
  fill(job, run.job);
}

function grid(chunks, run) {
  const done = chunks.filter((c) => c.status === 'done').length;
  fill(document.getElementById('chunk-count'), `${fmtCount(done)} of ${fmtCount(chunks.length)} done${run.planned ? '' : ' (still planning)'}`);
  fill(
    document.getElementById('chunk-grid'),
    chunks.map((c) => {
      const state = c.status === 'pending' && c.started ? 'running' : c.status;
      const title = `chunk ${c.chunk}: ${state}, ${fmtCount(c.rows_read)} rows, ${fmtCount(c.rows_rejected)} rejected, ${c.attempts} attempt${c.attempts === 1 ? '' : 's'}${c.error ? `\n${c.error}` : ''}`;
      return el('span', { className: `cell status-${state}`, title, dataset: { chunk: String(c.chunk), status: state } });
    }),
  );
}

async function loadRejects() {
  const page = await getJson(`/api/runs/${runId}/rejects?offset=${rejectOffset}&limit=${REJECTS_PAGE}`);
  fill(document.getElementById('reject-count'), page.total ? `${fmtCount(page.total)} in all` : 'none');
  fill(
    document.querySelector('#rejects tbody'),
    page.rejects.map((r) =>
      el(
        'tr',
        {},
        el('td', { className: 'num' }, String(r.chunk)),
        el('td', { className: 'num' }, r.line === null ? '–' : fmtCount(r.line)),
        el('td', { className: 'mono' }, r.key ?? '–'),
        el('td', {}, r.reason),
        el('td', {}, el('code', { className: 'raw' }, r.raw ?? '')),
      ),
    ),
  );
  const last = Math.min(page.offset + page.rejects.length, page.total);
  fill(document.getElementById('page'), page.total ? `${fmtCount(page.offset + 1)}–${fmtCount(last)} of ${fmtCount(page.total)}` : '');
  document.getElementById('prev').disabled = page.offset === 0;
  document.getElementById('next').disabled = last >= page.total;
}
document.getElementById('prev').addEventListener('click', () => {
  rejectOffset = Math.max(0, rejectOffset - REJECTS_PAGE);
  loadRejects().catch(showError);
});
document.getElementById('next').addEventListener('click', () => {
  rejectOffset += REJECTS_PAGE;
  loadRejects().catch(showError);
});

const share = (counts) => {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total ? c / total : 0));
};

function psiClass(psi, run) {
  if (psi === null) return 'none';
  if (psi >= (run.drift_fail ?? 0.25)) return 'fail';
  if (psi >= (run.drift_warn ?? 0.1)) return 'warn';
  return 'ok';
}

function bar(className, widthPct) {
  const b = el('span', { className });
  b.style.width = `${widthPct.toFixed(2)}%`;
  return b;
}

function psiBars(profile, run) {
  const withPsi = profile.filter((p) => p.psi !== null);
  const top = Math.max(0.3, ...withPsi.map((p) => p.psi));
  fill(
    document.getElementById('psi'),
    withPsi.length === 0
      ? el('p', { className: 'muted' }, 'No reference to compare with: no PSI.')
      : [
          el('h3', {}, 'Population stability index'),
          withPsi.map((p) =>
            el(
              'div',
              { className: 'psi-row' },
              el('span', { className: 'psi-name' }, p.role === 'output' ? `${p.column_name} (output)` : p.column_name),
              el('span', { className: 'psi-track' }, bar(`psi-bar psi-${psiClass(p.psi, run)}`, Math.max(0.5, (p.psi / top) * 100))),
              el('span', { className: 'psi-value num' }, fmtNum(p.psi, 3)),
            ),
          ),
        ],
  );
}

function histogram(p, run) {
  const n = p.bin_counts.length;
  const xs = Array.from({ length: n }, (_, i) => i);
  const mid = (i) => (p.bin_edges[i] + p.bin_edges[i + 1]) / 2;
  const series = [{}, { label: 'this run', fill: `${colours.current}99`, stroke: colours.current, width: 1, paths: uPlot.paths.bars({ size: [0.85, Infinity] }), points: { show: false } }];
  const data = [xs, share(p.bin_counts)];
  if (p.reference_counts) {
    series.push({ label: 'reference', fill: 'transparent', stroke: colours.reference, width: 2, paths: uPlot.paths.bars({ size: [0.85, Infinity] }), points: { show: false } });
    data.push(share(p.reference_counts));
  }
  const step = Math.max(1, Math.ceil(n / 5));
  const box = el('div', { className: 'chart' });
  const card = el(
    'figure',
    { className: 'hist', dataset: { column: p.column_name, role: p.role } },
    el('figcaption', {}, el('strong', {}, p.column_name), p.role === 'output' ? ' (output)' : '', p.psi !== null ? el('span', { className: `badge drift-${psiClass(p.psi, run)}` }, `PSI ${fmtNum(p.psi, 3)}`) : ''),
    box,
    el(
      'p',
      { className: 'stats' },
      `min ${fmtNum(p.min)} · mean ${fmtNum(p.mean)} · max ${fmtNum(p.max)} · sd ${fmtNum(p.stddev)} · zeros ${fmtCount(p.zeros)} of ${fmtCount(p.count)}${p.non_finite ? ` · non-finite ${fmtCount(p.non_finite)}` : ''}`,
      p.reference_counts ? el('br') : '',
      p.reference_counts ? `reference: min ${fmtNum(p.reference_min)} · mean ${fmtNum(p.reference_mean)} · max ${fmtNum(p.reference_max)}` : '',
    ),
  );
  document.getElementById('histograms').append(card);
  new uPlot(
    {
      width: 340,
      height: 170,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, n - 0.5] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
      axes: [
        { splits: () => xs.filter((i) => i % step === 0), values: (u, splits) => splits.map((i) => fmtNum(mid(i), 2)), size: 30 },
        { values: (u, splits) => splits.map((v) => `${Math.round(v * 100)}%`), size: 50 },
      ],
      series,
    },
    data,
    box,
  );
}

async function loadProfile(run) {
  const profile = await getJson(`/api/runs/${runId}/profile`);
  document.getElementById('no-profile').hidden = profile.length > 0;
  document.getElementById('hist-legend').hidden = profile.length === 0;
  const ref = profile.find((p) => p.reference_run_id !== null || p.reference);
  fill(
    document.getElementById('reference'),
    ref ? ['against ', ref.reference_run_id !== null ? el('a', { href: runHref(ref.reference_run_id) }, `run ${ref.reference_run_id}`) : ref.reference] : '',
  );
  psiBars(profile, run);
  fill(document.getElementById('histograms'));
  for (const p of profile) if (p.bin_counts.length > 0 && p.bin_edges.length === p.bin_counts.length + 1) histogram(p, run);
}

async function refresh() {
  const [run, chunks] = await Promise.all([getJson(`/api/runs/${runId}`), getJson(`/api/runs/${runId}/chunks`)]);
  clearError();
  summary(run);
  grid(chunks, run);
  const active = isActive(run.status) && !run.stale;
  fill(document.getElementById('live'), active ? 'live: refreshing every 2 s' : '');
  // Rejects and the profile: at first, and once more when the run ends (the profile is written then).
  if (wasActive === undefined || (wasActive && !active) || active) await loadRejects();
  if (wasActive === undefined || (wasActive && !active)) await loadProfile(run);
  wasActive = active;
  return active;
}

poll(refresh, (active) => (active ? LIVE_MS : 0));

import { clearError, driftBadge, el, fill, fmtCount, fmtDuration, getJson, isActive, jobHref, poll, runHref, statusBadge } from '/static/common.js';

const jobSelect = document.getElementById('job');
const statusSelect = document.getElementById('status');
const params = new URLSearchParams(location.search);
statusSelect.value = params.get('status') ?? '';
let wantedJob = params.get('job') ?? '';

/** Active runs: refresh every 2 s; otherwise every 10 s (a new run shows up without a reload). */
const LIVE_MS = 2000;
const IDLE_MS = 10000;

async function load() {
  const q = new URLSearchParams();
  if (wantedJob) q.set('job', wantedJob);
  if (statusSelect.value) q.set('status', statusSelect.value);
  const data = await getJson(`/api/runs?${q}`);
  clearError();
  const jobs = new Set(data.jobs);
  if (wantedJob) jobs.add(wantedJob);
  fill(jobSelect, el('option', { value: '' }, 'all jobs'), [...jobs].sort().map((j) => el('option', { value: j }, j)));
  jobSelect.value = wantedJob;
  fill(
    document.querySelector('#runs tbody'),
    data.runs.map((r) =>
      el(
        'tr',
        { dataset: { runId: String(r.run_id) } },
        el('td', { className: 'num' }, el('a', { href: runHref(r.run_id) }, String(r.run_id))),
        el('td', {}, el('a', { href: jobHref(r.job) }, r.job)),
        el('td', {}, statusBadge(r)),
        el('td', {}, r.trigger),
        el('td', {}, r.logical_date),
        el('td', { className: 'num' }, fmtCount(r.rows_read)),
        el('td', { className: 'num' }, fmtCount(r.rows_rejected)),
        el('td', { className: 'num', title: r.chunks_failed ? `${r.chunks_failed} failed` : '' }, `${fmtCount(r.chunks_done)}/${fmtCount(r.chunks_total)}`),
        el('td', { className: 'num' }, fmtDuration(r.duration_s)),
        el('td', { className: 'mono' }, r.model_version),
        el('td', {}, driftBadge(r)),
      ),
    ),
  );
  document.getElementById('empty').hidden = data.runs.length > 0;
  const live = data.runs.some((r) => isActive(r.status) && !r.stale);
  fill(document.getElementById('live'), live ? 'live: refreshing every 2 s' : '');
  return live;
}

let poller = poll(load, (live) => (live ? LIVE_MS : IDLE_MS));
function refilter() {
  wantedJob = jobSelect.value;
  const q = new URLSearchParams();
  if (wantedJob) q.set('job', wantedJob);
  if (statusSelect.value) q.set('status', statusSelect.value);
  history.replaceState(null, '', q.toString() ? `/?${q}` : '/');
  poller.stop();
  poller = poll(load, (live) => (live ? LIVE_MS : IDLE_MS));
}
jobSelect.addEventListener('change', refilter);
statusSelect.addEventListener('change', refilter);

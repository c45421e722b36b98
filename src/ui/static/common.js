// Shared by the dashboard's pages. Every value from the API is written with textContent (el() below):
// never as HTML, so a reject's raw text or a job name shows as the characters it holds.

/** An element with properties (className, href, title...) and children (strings become text nodes). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node[k] = v;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replace an element's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export async function getJson(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  if (res.status === 401) {
    location.assign('/login');
    throw new Error('sign in first');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

export const runHref = (id) => `/runs/${encodeURIComponent(String(id))}`;
export const jobHref = (job) => `/jobs/${encodeURIComponent(job)}`;

const count = new Intl.NumberFormat('en-US');
export const fmtCount = (n) => (n === null || n === undefined ? '–' : count.format(n));
export function fmtNum(n, digits = 3) {
  if (n === null || n === undefined) return '–';
  if (n !== 0 && (Math.abs(n) >= 1e6 || Math.abs(n) < 1e-3)) return n.toExponential(2);
  return Number(n.toFixed(digits)).toString();
}
export const fmtPct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(x > 0 && x < 0.001 ? 3 : 1)}%`);
export function fmtDuration(s) {
  if (s === null || s === undefined) return '–';
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
export const isActive = (status) => status === 'queued' || status === 'running';

/** The status as the CLI shows it: stale when the owner is gone, cancelling when asked to stop. */
export function statusBadge(run) {
  const word = run.stale ? 'stale' : isActive(run.status) && run.cancel_requested ? `${run.status}, cancelling` : run.status;
  return el('span', { className: `badge status-${run.stale ? 'stale' : run.status}`, title: run.error ?? '' }, word);
}

/** The drift column: max PSI with ok/warn/fail, and the number of warnings. */
export function driftBadge(run) {
  if (run.max_psi === null && !run.drift_status && !(run.warnings && run.warnings.length)) return el('span', { className: 'muted' }, '–');
  const status = run.drift_status ?? 'ok';
  const title = (run.warnings ?? []).join('\n');
  return el(
    'span',
    { className: `badge drift-${status}`, title },
    `${status}${run.max_psi !== null ? ` · PSI ${fmtNum(run.max_psi, 3)}` : ''}${run.warnings && run.warnings.length ? ` · ${run.warnings.length} warning${run.warnings.length > 1 ? 's' : ''}` : ''}${run.accepted_at ? ' · accepted' : ''}`,
  );
}

/** Poll fn every intervalMs (a function of the last result) until stop() or the page is hidden and back. */
export function poll(fn, intervalMs) {
  let timer;
  let stopped = false;
  const tick = async () => {
    let next = intervalMs;
    try {
      const r = await fn();
      if (typeof intervalMs === 'function') next = intervalMs(r);
    } catch (err) {
      showError(err);
      next = typeof intervalMs === 'function' ? 5000 : intervalMs;
    }
    if (!stopped && next) timer = setTimeout(tick, next);
  };
  tick();
  return { stop: () => ((stopped = true), clearTimeout(timer)) };
}

export function showError(err) {
  const box = document.getElementById('error');
  if (box) fill(box, err ? String(err.message ?? err) : '');
}

export function clearError() {
  showError('');
}

/** Chart colours, readable on white and for the common colour blindnesses. */
export const colours = { current: '#1f6feb', reference: '#9a6700', line: '#1f6feb', warn: '#bf8700', fail: '#cf222e' };

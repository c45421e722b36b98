import http from 'node:http';
import type net from 'node:net';
import type pg from 'pg';
import promClient from 'prom-client';
import { registerJobGauges } from '../monitoring/job-gauges.js';
import { ledgerExists, runStatuses } from '../runs/run-status.js';
import type { RunStatus } from '../runs/ledger.js';
import { Access } from './access.js';
import { jobPage, runChunks, runExists, runPage, runProfile, runRejects, runsPage } from './dashboard-queries.js';
import { loadAssets, type Asset } from './static-assets.js';

export interface UiServerOptions {
  /** read-only connections to the results database */
  pool: pg.Pool;
  /** BATCHINFER_UI_TOKEN; undefined: no token (loopback only, checked by the caller) */
  token?: string;
  /** one line per server-side failure (a query that failed) */
  log?: (line: string) => void;
}

/** Rows a runs list shows at most, and a rejects page. */
const RUNS_LIMIT_MAX = 500;
const REJECTS_PAGE_MAX = 200;
const JOB_DATES_MAX = 366;

const securityHeaders = {
  // The pages load only their own scripts: an injected <script> would not run even if a value were ever
  // written as HTML (the pages write every value as text).
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const pages: [RegExp, string][] = [
  [/^\/$/, '/static/runs.html'],
  [/^\/runs\/\d+$/, '/static/run.html'],
  [/^\/jobs\/[^/]+$/, '/static/job.html'],
];

/** The dashboard: pages, their JSON API and the login form; read-only. Listening is the caller's. */
export function createUiServer(opts: UiServerOptions): http.Server {
  const access = new Access(opts.token);
  const metrics = new promClient.Registry();
  registerJobGauges(metrics, opts.pool);
  const assets = loadAssets();
  let ledger = false;
  /** A database no run has used yet has no ledger: the lists are empty until the first run creates it. */
  const hasLedger = async (db: pg.ClientBase) => (ledger ||= await ledgerExists(db));
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) opts.log?.(`${req.method} ${req.url}: ${(err as Error)?.message ?? String(err)}`);
      if (!res.headersSent) sendJson(res, status, { error: status === 500 ? 'the query failed (see the ui process log)' : (err as Error).message });
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ui.invalid');
    const route = url.pathname;
    if (route === '/login') return login(req, res, url);
    // The login page's own style: fixed text, needed before signing in.
    if (route === '/static/login.css' && assets.has(route)) return sendAsset(res, assets.get(route)!, req.method === 'HEAD');
    if (!access.allowed(req)) {
      if (!access.needsToken) throw new HttpError(403, 'this dashboard answers only requests addressed to 127.0.0.1 or localhost (the Host header); to serve a network name, run ui with --host and BATCHINFER_UI_TOKEN');
      return denied(res, route);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} not allowed: the dashboard is read-only`);
    // Prometheus: the per-job gauges of each job's last run (max PSI, reject rate, rows), as a worker serves them.
    if (route === '/metrics') return send(res, 200, metrics.contentType, await metrics.metrics());
    if (route.startsWith('/api/')) {
      const db = await opts.pool.connect();
      try {
        return sendJson(res, 200, await api(db, route, url.searchParams));
      } finally {
        db.release();
      }
    }
    const page = pages.find(([re]) => re.test(route));
    const asset = assets.get(page ? page[1] : route);
    if (!asset) throw new HttpError(404, `no page ${route}`);
    return sendAsset(res, asset, req.method === 'HEAD');
  }

  async function api(db: pg.ClientBase, route: string, q: URLSearchParams): Promise<unknown> {
    const parts = route.split('/').slice(2).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        throw new HttpError(400, `${route}: malformed percent-encoding`);
      }
    });
    if (!(await hasLedger(db))) {
      if (parts[0] === 'runs' && parts.length === 1) return { runs: [], jobs: [] };
      throw new HttpError(404, 'no runs yet: the database has no ledger (schema batchinfer)');
    }
    if (parts[0] === 'runs' && parts.length === 1) {
      const status = q.get('status') || undefined;
      if (status !== undefined && !(runStatuses as string[]).includes(status)) throw new HttpError(400, `status ${status}: not a run status (${runStatuses.join(', ')})`);
      return runsPage(db, { job: q.get('job') || undefined, status: status as RunStatus | undefined, limit: whole(q.get('limit'), 'limit', 100, 1, RUNS_LIMIT_MAX) });
    }
    if (parts[0] === 'runs' && parts.length <= 3) {
      const runId = whole(parts[1], 'run id', undefined, 1, Number.MAX_SAFE_INTEGER);
      if (parts[2] === undefined) {
        const run = await runPage(db, runId);
        if (!run) throw new HttpError(404, `run ${runId} is not in the ledger`);
        return run;
      }
      if (!(await runExists(db, runId))) throw new HttpError(404, `run ${runId} is not in the ledger`);
      switch (parts[2]) {
        case 'chunks':
          return runChunks(db, runId);
        case 'rejects':
          return runRejects(db, runId, whole(q.get('offset'), 'offset', 0, 0, Number.MAX_SAFE_INTEGER), whole(q.get('limit'), 'limit', 50, 1, REJECTS_PAGE_MAX));
        case 'profile':
          return runProfile(db, runId);
      }
    }
    if (parts[0] === 'jobs' && parts.length === 2 && parts[1]) {
      const job = await jobPage(db, parts[1], q.get('output') || undefined, JOB_DATES_MAX);
      if (!job) throw new HttpError(404, `job ${parts[1]} has no runs`);
      return job;
    }
    throw new HttpError(404, `no API route ${route}`);
  }

  async function login(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (!access.needsToken) return redirect(res, '/');
    if (req.method === 'POST') {
      const form = new URLSearchParams(await body(req, 4096));
      const next = returnPath(form.get('next'));
      if (access.tokenMatches(form.get('token') ?? '')) {
        res.setHeader('Set-Cookie', access.sessionHeader());
        return redirect(res, next);
      }
      return send(res, 401, 'text/html; charset=utf-8', loginForm('That is not the token.', next));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} /login: use GET or POST`);
    return send(res, 200, 'text/html; charset=utf-8', loginForm(url.searchParams.has('denied') ? 'Sign in to see the dashboard.' : ''));
  }

  return server;
}

function denied(res: http.ServerResponse, route: string): void {
  res.setHeader('WWW-Authenticate', 'Bearer realm="batchinfer ui"');
  if (route.startsWith('/api/') || route === '/metrics') return sendJson(res, 401, { error: 'unauthorized: send Authorization: Bearer <BATCHINFER_UI_TOKEN>, or sign in at /login' });
  send(res, 401, 'text/html; charset=utf-8', loginForm('Sign in to see the dashboard.', returnPath(route)));
}

/**
 * Where the login form sends the user back to: a page of the dashboard, matched strictly (no quotes or
 * angle brackets can pass, so it goes into the form as it is); anything else: the runs list.
 */
function returnPath(path: string | null): string {
  return path !== null && /^\/(runs\/\d{1,16}|jobs\/[A-Za-z0-9._~%-]{1,200})?$/.test(path) ? path : '/';
}

/** The login page: no data of the ledger, only fixed text (so it needs no escaping). */
function loginForm(note: string, next = '/'): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>batchinfer: sign in</title><link rel="stylesheet" href="/static/login.css"></head>
<body><main class="login"><h1>batchinfer</h1><p>${note}</p>
<form method="post" action="/login"><input type="hidden" name="next" value="${returnPath(next)}"><label>Token (BATCHINFER_UI_TOKEN) <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></main></body></html>
`;
}

/** A whole number query parameter (or path part) in [min, max]; the fallback when absent. */
function whole(raw: string | null | undefined, what: string, fallback: number | undefined, min: number, max: number): number {
  if ((raw === null || raw === undefined || raw === '') && fallback !== undefined) return fallback;
  const n = /^\d{1,16}$/.test(raw ?? '') ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new HttpError(400, `${what} ${JSON.stringify(raw ?? '')}: expected a whole number from ${min} to ${max}`);
  return n;
}

function body(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > maxBytes) {
        reject(new HttpError(413, 'request body too large'));
        req.destroy();
      } else parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, type: string, text: string | Buffer, headOnly = false): void {
  res.writeHead(status, { ...securityHeaders, 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(headOnly ? undefined : text);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sendAsset(res: http.ServerResponse, asset: Asset, headOnly: boolean): void {
  send(res, 200, asset.type, asset.body, headOnly);
}

function redirect(res: http.ServerResponse, to: string): void {
  res.writeHead(303, { ...securityHeaders, Location: to, 'Content-Length': 0 });
  res.end();
}

/** Listen on host:port; resolves with the URL to open (port 0: the one the OS picked). */
export function listen(server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as net.AddressInfo;
      resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`);
    });
  });
}

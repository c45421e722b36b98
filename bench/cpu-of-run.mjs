// CPU of one whole run, robust on a shared machine where wall times swing: the node process (user+sys,
// threads included) plus its Postgres backends (/proc/PID/stat, sampled every 30 ms; the server must be
// local). usage: node bench/cpu-of-run.mjs CHECKOUT_DIR SPEC_NAME [RUN OPTIONS], e.g. `. bench-csv` after `npm run bench`
// wrote bench/data/bench-csv.yaml; the spec's result table is emptied first, as the bench does.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import pg from 'pg';
const [dir, spec, ...extra] = process.argv.slice(2); // extra: more options for `run`, e.g. --threads 3
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const c = new pg.Client({ connectionString: url, application_name: 'cpu-sampler' });
await c.connect();
const table = /sink: \{ table: ([\w.]+) \}/.exec(fs.readFileSync(new URL(`data/${spec}.yaml`, import.meta.url), 'utf8'))?.[1];
if (table) await c.query(`DO $$ BEGIN IF to_regclass('${table}') IS NOT NULL THEN TRUNCATE ${table}; END IF; END $$`);
const tick = 100; // CLK_TCK
const backends = new Map();
let done = false;
const t0 = process.hrtime.bigint();
const child = spawn('/usr/bin/time', ['-f', '%U %S', process.execPath, `${dir}/bin/batchinfer.js`, 'run', `bench/data/${spec}.yaml`, '--json', '--fresh', '--date', '2026-01-01', ...extra], { cwd: new URL('..', import.meta.url).pathname, env: { ...process.env, DATABASE_URL: url } });
let out = '', err = '';
child.stdout.on('data', (d) => (out += d));
child.stderr.on('data', (d) => (err += d));
const ended = new Promise((r) => child.on('close', r));
child.on('close', () => (done = true));
const sample = async () => {
  // this run's database only: another session's runs against the machine's server are not counted
  const { rows } = await c.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'batchinfer%'`);
  for (const { pid } of rows) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      backends.set(pid, (Number(f[11]) + Number(f[12])) / tick);
    } catch {}
  }
};
while (!done) { await sample(); await new Promise((r) => setTimeout(r, 30)); }
await ended;
const wall = Number(process.hrtime.bigint() - t0) / 1e9;
const [u, s] = err.trim().split('\n').pop().split(' ').map(Number);
const o = JSON.parse(out);
const be = [...backends.values()].reduce((a, b) => a + b, 0);
console.log(`${dir.split('/').pop()} ${spec}${extra.length ? ' ' + extra.join(' ') : ''} dur=${o.duration_s} wall=${wall.toFixed(2)} nodeCPU=${(u + s).toFixed(2)} pgCPU=${be.toFixed(2)} total=${(u + s + be).toFixed(2)}`);
await c.end();

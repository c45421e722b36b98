// The CSV fast path alone: fastRecord over the first 100,000 rows of the bench CSV, in one process, each
// build's module in turn, 30 rounds (the first 5 not counted). For A/B of src/sources/csv-fast-record.ts:
//   node bench/fast-record.mjs                      this checkout's build
//   node bench/fast-record.mjs OTHER_CHECKOUT .     another checkout's build beside this one
// Needs bench/data/lr1000000.csv (npm run bench makes it) and `npm run build` in each checkout.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROWS = 100_000;
const csv = new URL('./data/lr1000000.csv', import.meta.url);
const fd = fs.openSync(csv, 'r');
const raw = Buffer.alloc(40 << 20);
fs.readSync(fd, raw, 0, raw.length, 0);
fs.closeSync(fd);
const start = raw.indexOf(10) + 1;
let end = start;
for (let r = 0; r < ROWS; r++) end = raw.indexOf(10, end) + 1;
const buf = Buffer.alloc(end - start + 8); // zeros after the data, as the reader leaves them
raw.copy(buf, 0, start, end);
const limit = end - start;

const cols = 31; // id, f0..f29
const widths = [30];
const layout = { columnCount: cols, keyIndex: 0, featureSlots: Array.from({ length: cols }, (_, i) => (i === 0 ? [] : [[0, i - 1]])), passthroughSlot: new Int32Array(cols).fill(-1), inputWidths: widths };
const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['.'];
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'dist/sources/csv-fast-record.js')).href)));
const outs = mods.map(() => new Float32Array(ROWS * 30));
const times = mods.map(() => []);
for (let round = 0; round < 30; round++)
  mods.forEach((m, i) => {
    const plan = m.fastPlan(layout, 'text');
    const t = process.hrtime.bigint();
    for (let r = 0, p = 0; r < ROWS; r++) {
      p = m.fastRecord(buf, p, limit, plan, [outs[i]], widths, r);
      if (p < 0) throw new Error(`${dirs[i]}: row ${r} left the fast path`);
    }
    if (round >= 5) times[i].push(Number(process.hrtime.bigint() - t) / 1e6);
  });
for (let i = 1; i < mods.length; i++)
  if (outs[i].some((v, k) => !Object.is(v, outs[0][k]))) console.log(`${dirs[i]}: features differ from ${dirs[0]}'s`);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
dirs.forEach((d, i) => console.log(`${d}: fastRecord per 100,000 rows: min ${Math.min(...times[i]).toFixed(1)} ms, median ${median(times[i]).toFixed(1)} ms`));

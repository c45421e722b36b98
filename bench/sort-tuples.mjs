// sortTuplesByKey alone: 50,000 binary COPY tuples keyed by the UUIDs of the bench CSV (a UUID key and
// five fields, about the bench's result row), each build's module in turn, 20 rounds (the first 4 not counted).
//   node bench/sort-tuples.mjs [OTHER_CHECKOUT .]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const N = 50_000;
const fd = fs.openSync(new URL('./data/lr1000000-uuid.csv', import.meta.url), 'r');
const raw = Buffer.alloc(16 << 20);
fs.readSync(fd, raw, 0, raw.length, 0);
fs.closeSync(fd);
const tuple = 2 + 4 + 36 + (4 + 4) + (4 + 8) + (4 + 8) + (4 + 4) + (4 + 5);
const buf = Buffer.alloc(2 * N * tuple);
const starts = new Int32Array(N);
let p = raw.indexOf(10) + 1;
let q = 0;
for (let r = 0; r < N; r++) {
  starts[r] = q;
  q = buf.writeInt16BE(6, q);
  const e = raw.indexOf(44, p);
  q = buf.writeInt32BE(e - p, q);
  q += raw.copy(buf, q, p, e);
  for (const len of [4, 8, 8, 4, 5]) q = buf.writeInt32BE(len, q) + len;
  p = raw.indexOf(10, p) + 1;
}
const end = q;
const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['.'];
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'dist/sink/sort-tuples.js')).href)));
const times = mods.map(() => []);
let check;
for (let round = 0; round < 20; round++)
  for (let m = 0; m < mods.length; m++) {
    const t = process.hrtime.bigint();
    const out = mods[m].sortTuplesByKey(buf, end, starts, N);
    if (round >= 4) times[m].push(Number(process.hrtime.bigint() - t) / 1e6);
    const sum = out.toString('latin1', 0, 2000);
    if (check === undefined) check = sum;
    else if (sum !== check) throw new Error(`${dirs[m]}: a different order`);
  }
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (let m = 0; m < mods.length; m++) console.log(`${dirs[m]}: ${med(times[m]).toFixed(2)} ms per ${N} tuples`);

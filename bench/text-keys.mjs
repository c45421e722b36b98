// The text-key set alone: TextKeySet.addBytes over the keys of the UUID-keyed bench CSV in chunks of
// 50,000 (as a scoring thread sees them), each build's module in turn, 20 rounds (the first 4 not counted).
//   node bench/text-keys.mjs [OTHER_CHECKOUT .]
// Needs bench/data/lr1000000-uuid.csv (npm run bench makes it) and `npm run build` in each checkout.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const CHUNK = 50_000;
const CHUNKS = 4;
const fd = fs.openSync(new URL('./data/lr1000000-uuid.csv', import.meta.url), 'r');
const raw = Buffer.alloc(64 << 20);
fs.readSync(fd, raw, 0, raw.length, 0);
fs.closeSync(fd);
const starts = [];
const ends = [];
let p = raw.indexOf(10) + 1;
for (let r = 0; r < CHUNK * CHUNKS; r++) {
  starts.push(p);
  ends.push(raw.indexOf(44, p));
  p = raw.indexOf(10, p) + 1;
}
const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['.'];
const mods = await Promise.all(dirs.map((d) => import(pathToFileURL(path.resolve(d, 'dist/sources/text-keys.js')).href)));
const sets = mods.map((m) => new m.TextKeySet());
const times = mods.map(() => []);
for (let round = 0; round < 20; round++)
  for (let m = 0; m < mods.length; m++) {
    const set = sets[m];
    const t = process.hrtime.bigint();
    let ids = 0;
    for (let c = 0; c < CHUNKS; c++) {
      set.reset();
      for (let r = c * CHUNK; r < (c + 1) * CHUNK; r++) ids += set.addBytes(raw, starts[r], ends[r]);
    }
    if (round >= 4) times[m].push(Number(process.hrtime.bigint() - t) / 1e6);
    if (ids !== CHUNKS * (CHUNK * (CHUNK - 1)) / 2) throw new Error(`${dirs[m]}: wrong ids (${ids})`);
  }
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (let m = 0; m < mods.length; m++) console.log(`${dirs[m]}: ${(med(times[m]) / CHUNKS).toFixed(2)} ms per ${CHUNK} UUID keys (${((med(times[m]) * 1e6) / (CHUNK * CHUNKS)).toFixed(0)} ns a key)`);

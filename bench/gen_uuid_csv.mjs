#!/usr/bin/env node
// The same rows keyed by UUIDs (seeded, random order, like uuid v4 ids): usage gen_uuid_csv.mjs IN.csv OUT.csv
import fs from 'node:fs';
import readline from 'node:readline';
const [input, out] = process.argv.slice(2);
let seed = 7;
const rnd32 = () => {
  // xorshift32: deterministic, fast, well spread
  seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
  return seed >>> 0;
};
const hex = (n, w) => n.toString(16).padStart(w, '0');
const uuid = () => {
  const a = rnd32(), b = rnd32(), c = rnd32(), d = rnd32();
  return `${hex(a, 8)}-${hex(b >>> 16, 4)}-4${hex(b & 0xfff, 3)}-${hex(0x8000 | (c >>> 18), 4)}-${hex(c & 0xffff, 4)}${hex(d, 8)}`;
};
const w = fs.createWriteStream(out);
let first = true;
let pending = [];
const flush = async () => {
  if (!w.write(pending.join(''))) await new Promise((r) => w.once('drain', r));
  pending = [];
};
for await (const line of readline.createInterface({ input: fs.createReadStream(input), crlfDelay: Infinity })) {
  if (first) { pending.push(line + '\n'); first = false; continue; }
  pending.push(uuid() + line.slice(line.indexOf(',')) + '\n');
  if (pending.length >= 10000) await flush();
}
await flush();
w.end();

#!/usr/bin/env node
// The one place that exits: everything below returns an exit code.
// dist/bundle/main.js: the build's bundle of dist/ (bin/build.mjs), loaded through the code cache (bin/code-cache.cjs).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const require = createRequire(import.meta.url);
const command = process.argv[2] ?? '';
// Commands that score start onnxruntime and a scoring thread first (bin/spare-thread.cjs).
const spare =
  (command === 'run' || command === 'backfill') && !process.argv.includes('--help') && !process.argv.includes('-h') ? require('./spare-thread.cjs').startSpareThread() : undefined;
const { load } = require('./code-cache.cjs');
const { main, offerSpareThread } = load(fileURLToPath(new URL('../dist/bundle/main.js', import.meta.url)), /^[a-z][a-z-]{0,30}$/.test(command) ? command : 'other');
if (spare) offerSpareThread(spare.worker, spare.exited);
main(process.argv).then(async (code) => {
  // Not while the spare thread may be inside onnxruntime (bin/spare-thread.cjs): stopped and waited for.
  await spare?.release(10_000);
  process.exit(code);
});

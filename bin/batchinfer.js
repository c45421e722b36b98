#!/usr/bin/env node
// The one place that exits: everything below returns an exit code.
// dist/bundle/main.js: the build's bundle of dist/ (bin/build.mjs), loaded through the code cache (bin/code-cache.cjs).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const require = createRequire(import.meta.url);
const command = process.argv[2] ?? '';
// Commands that score start onnxruntime on another thread first (bin/ort-warmup.cjs).
const warmedUp =
  (command === 'run' || command === 'backfill') && !process.argv.includes('--help') && !process.argv.includes('-h') ? require('./ort-warmup.cjs').startOrtWarmup() : () => Promise.resolve();
const { load } = require('./code-cache.cjs');
const { main } = load(fileURLToPath(new URL('../dist/bundle/main.js', import.meta.url)), /^[a-z][a-z-]{0,30}$/.test(command) ? command : 'other');
// Not while the warm-up thread is inside onnxruntime (bin/ort-warmup.cjs): it ends ~0.3 s after the start.
main(process.argv).then(async (code) => {
  await warmedUp(10_000);
  process.exit(code);
});

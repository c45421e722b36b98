#!/usr/bin/env node
// The one place that exits: everything below returns an exit code.
// dist/bundle/main.js: the build's bundle of dist/ (bin/build.mjs), loaded through the code cache (bin/code-cache.cjs).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const { load } = createRequire(import.meta.url)('./code-cache.cjs');
const command = process.argv[2] ?? '';
const { main } = load(fileURLToPath(new URL('../dist/bundle/main.js', import.meta.url)), /^[a-z][a-z-]{0,30}$/.test(command) ? command : 'other');
main(process.argv).then((code) => process.exit(code));

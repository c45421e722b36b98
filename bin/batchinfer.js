#!/usr/bin/env node
// The one place that exits: everything below returns an exit code.
// dist/bundle/: the build's bundle of dist/ (bin/build.mjs)
import { main } from '../dist/bundle/main.js';
main(process.argv).then((code) => process.exit(code));

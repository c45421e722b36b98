#!/usr/bin/env node
// The one place that exits: everything below returns an exit code.
import { main } from '../dist/cli/main.js';
main(process.argv).then((code) => process.exit(code));

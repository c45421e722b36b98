// Loads a CommonJS bundle of dist/bundle/ through V8's code cache: the first run of a command compiles the
// bundle and, as it exits, stores the compiled code beside it (<bundle>.<key>.cache); later runs start from
// that instead of parsing and compiling ~1.5 MB of JavaScript again (~60 ms of a 1,000-row run,
// docs/performance.md "Start-up"). A cache that does not match (another bundle, Node or V8 flags) is rejected
// by V8 and written anew; one that cannot be written (a read-only install) is skipped.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

/** Run the bundle at `file` as a CommonJS module and return its exports; `key` names its cache (one per command). */
exports.load = function load(file, key) {
  const source = fs.readFileSync(file, 'utf8');
  const cacheFile = `${file}.${key}.cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // no cache yet
  }
  // No import() in the bundles: a script compiled from a code cache loses its dynamic-import loader (Node 20).
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected) {
    // Written at exit, so it holds every function this command compiled; atomically (commands run at once).
    process.once('exit', () => {
      const tmp = `${cacheFile}.${process.pid}.${require('node:worker_threads').threadId}`;
      try {
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        fs.rmSync(tmp, { force: true });
      }
    });
  }
  const mod = { exports: {}, filename: file, id: file, loaded: false };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  mod.loaded = true;
  return mod.exports;
};

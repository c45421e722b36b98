import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';

/** bin/spare-thread.cjs: onnxruntime and a scoring thread started ahead by the commands that score. */
const spare = path.join(repoRoot, 'bin/spare-thread.cjs');
const ortPath = path.join(repoRoot, 'node_modules/onnxruntime-node');

describe('the spare scoring thread', () => {
  it('a run that fails at once exits with its own code: the process waits for the thread, never aborts inside onnxruntime', () => {
    // Exiting while the thread is inside onnxruntime aborted the process (signal 6, "terminate called
    // after throwing an instance of 'Napi::Error'") in most of these, before bin/batchinfer.js waited.
    for (let i = 0; i < 5; i++) {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/batchinfer.js'), 'run', 'no-such-spec.yaml'], { encoding: 'utf8', timeout: 20_000, cwd: os.tmpdir() });
      expect([r.status, r.signal], r.stderr).toEqual([2, null]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it('an unused spare ends once released, silently; releasing keeps the process alive until then, and no longer', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(spare)}).startSpareThread().release(10_000).then(() => process.exit(3))`], { encoding: 'utf8', timeout: 20_000 });
    expect([r.status, r.signal, r.stderr, r.stdout]).toEqual([3, null, '', '']);
    expect(Date.now() - t0, 'the thread ended well before the 10 s bound').toBeLessThan(8_000);
  });

  it('released while it loads onnxruntime or the bundle, or after: the process never aborts', () => {
    for (const ms of [0, 50, 150, 400]) {
      const r = spawnSync(process.execPath, ['-e', `const s = require(${JSON.stringify(spare)}).startSpareThread(); setTimeout(() => s.release(10_000).then(() => process.exit(3)), ${ms})`], { encoding: 'utf8', timeout: 20_000 });
      expect([ms, r.status, r.signal, r.stderr]).toEqual([ms, 3, null, '']);
    }
  });

  it('leaves a runtime the process then scores with: a session made after it runs, and nothing is logged', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const spare = require(${JSON.stringify(spare)}).startSpareThread();
         setTimeout(async () => {
           const ort = require(${JSON.stringify(ortPath)});
           ort.env.logLevel = 'fatal';
           const s = await ort.InferenceSession.create(require('node:fs').readFileSync(${JSON.stringify(path.join(repoRoot, 'test/fixtures/models/typed.onnx'))}), { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 });
           process.stdout.write(s.inputNames.join(','));
           await spare.release(10_000);
         }, 300);`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'x', '']);
  });
});

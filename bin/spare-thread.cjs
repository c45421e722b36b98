// The commands that score (`run`, `backfill`) start one scoring thread here, before the CLI has loaded.
// - It brings up onnxruntime first. The first session in a process costs ~50 ms of native start-up (its
//   environment: the shared runtime every later session uses, ~3 ms each after it), and `require` ~20 ms more.
//   It makes that first session (a model of one Identity node) on this thread while the main thread loads the
//   CLI, reads the spec and connects.
// - Then it loads the scoring bundle (dist/bundle/chunk-thread.bundle.js) and waits. A run that starts a pool of
//   scoring threads takes it as its first thread (src/execute/spare-thread.ts), ~0.1-0.2 s sooner than a thread
//   started then. A run scored on the main thread stops it as it starts.
// The process must not exit while the thread is inside onnxruntime: a thread stopped there aborts the
// process (a C++ exception thrown as its JavaScript is torn down). bin/batchinfer.js therefore stops the
// thread if nothing took it, and waits for it to end before it exits. Only a command that fails in its first
// ~0.3 s feels that. A thread that fails is ignored: the run starts its threads and loads onnxruntime as before.
'use strict';
const path = require('node:path');
const { Worker } = require('node:worker_threads');

/** y = Identity(x), float [1], opset 13 (65 bytes) */
const TINY_MODEL = 'CAc6NwoQCgF4EgF5IghJZGVudGl0eRIBZ1oPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEA0=';

/**
 * Start the thread. Returns undefined when it cannot start; otherwise the worker, a promise of its end, and
 * `release(ms)`: stop it unless a run took it, then resolve once it has ended (or after `ms`).
 */
exports.startSpareThread = function startSpareThread() {
  let ortPath;
  try {
    ortPath = require.resolve('onnxruntime-node');
  } catch {
    return undefined; // the run reports it
  }
  const codeCache = path.join(__dirname, 'code-cache.cjs');
  const bundle = path.join(__dirname, '../dist/bundle/chunk-thread.bundle.js');
  // onnxruntime's telemetry reads this when the first session is made (src/cli/main.ts sets it too, later)
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  // Its first message: { type: 'adopt', data } from a pool (src/execute/inline-executor.ts), or a stop, after
  // which no listener is left and the thread ends. Until then, onnxruntime first, then the bundle.
  const code = `
    let loaded, told = false;
    const load = () => (loaded ??= require(${JSON.stringify(codeCache)}).load(${JSON.stringify(bundle)}, 'thread'));
    require('node:worker_threads').parentPort.once('message', (m) => {
      told = true;
      if (m.type === 'adopt') load().begin(m.data);
    });
    const ort = require(${JSON.stringify(ortPath)});
    ort.env.logLevel = 'fatal'; // as src/model/session-cache.ts: the environment's level is taken from the first session
    ort.InferenceSession.create(Buffer.from(${JSON.stringify(TINY_MODEL)}, 'base64'), { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 })
      .then((s) => s.release(), () => undefined)
      .then(() => told || load());
  `;
  try {
    // resourceLimits: a scoring thread's (src/execute/inline-executor.ts, threadLimits)
    const worker = new Worker(code, { eval: true, workerData: { spare: true }, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    worker.on('error', () => undefined);
    const exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.unref(); // not what keeps the process alive, until a pool takes it or it is released
    return {
      worker,
      exited,
      release(ms) {
        worker.ref();
        // Unused: it ends. Taken: the pool has stopped it already (a stop after that changes nothing).
        worker.postMessage({ type: 'stop' });
        let timer;
        return Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).then(() => clearTimeout(timer));
      },
    };
  } catch {
    return undefined; // no thread: nothing lost
  }
};

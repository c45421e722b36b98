// onnxruntime's first session in a process costs ~50 ms of native start-up (its environment: the shared
// runtime every later session uses, ~3 ms each after it), and `require('onnxruntime-node')` ~20 ms more.
// bin/batchinfer.js starts this for the commands that score, before it loads anything else: a short-lived
// thread pays that start-up on the other core (with a model of one Identity node) while the main thread
// loads the CLI, reads the spec and connects; the main thread's (and the scoring threads') sessions then
// come from a runtime already up. A thread that fails is ignored: the run loads onnxruntime as before.
// The process must not exit while the thread is inside onnxruntime: a thread stopped there aborts the
// process (a C++ exception thrown as its JavaScript is torn down). bin/batchinfer.js therefore waits for
// the thread to end before it exits; that is only ever felt by a command that fails in its first ~0.3 s.
'use strict';
const { Worker } = require('node:worker_threads');

/** y = Identity(x), float [1], opset 13 (65 bytes) */
const TINY_MODEL = 'CAc6NwoQCgF4EgF5IghJZGVudGl0eRIBZ1oPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEA0=';

/** Start the thread; returns a function that resolves once the thread has ended (or after `ms`). */
exports.startOrtWarmup = function startOrtWarmup() {
  const none = () => Promise.resolve();
  let ortPath;
  try {
    ortPath = require.resolve('onnxruntime-node');
  } catch {
    return none; // the run reports it
  }
  const code = `
    const ort = require(${JSON.stringify(ortPath)});
    ort.env.logLevel = 'fatal'; // as src/model/session-cache.ts: the environment's level is taken from the first session
    ort.InferenceSession.create(Buffer.from(${JSON.stringify(TINY_MODEL)}, 'base64'), { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 })
      .then((s) => s.release(), () => undefined);
  `;
  try {
    const w = new Worker(code, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    w.on('error', () => undefined);
    const ended = new Promise((resolve) => w.once('exit', resolve));
    w.unref(); // not what keeps the process alive, until the process waits for it to end:
    return (ms) => {
      w.ref();
      let timer;
      return Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).then(() => clearTimeout(timer));
    };
  } catch {
    return none; // no thread: nothing lost
  }
};

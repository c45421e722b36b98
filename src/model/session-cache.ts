import { createRequire } from 'node:module';
import type { InferenceSession } from 'onnxruntime-node';
import { UsageError, errorMessage } from '../errors.js';

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | undefined;
/**
 * onnxruntime's own log lines, off (fatal only): they carry ANSI colour codes whatever stderr is, its warnings
 * (graph clean-ups such as an unused initializer) are not the user's to act on in a batch run, and its errors
 * also come back as the exception batchinfer reports in its own words.
 */
const ortLogSeverity = 4;

/** onnxruntime-node loaded lazily: commands that never score (db, validate of a bad spec) skip its start-up cost. */
export function ort(): Ort {
  if (!ortModule) {
    ortModule = createRequire(import.meta.url)('onnxruntime-node') as Ort;
    ortModule.env.logLevel = 'fatal'; // the process-wide default, taken when the first session creates onnxruntime's environment
  }
  return ortModule;
}

const sessions = new Map<string, Promise<InferenceSession>>();

/**
 * One session per model file per thread, kept for the thread's life: creating and releasing sessions
 * repeatedly leaks in onnxruntime-node (microsoft/onnxruntime#25325). One intra-op thread, because
 * batchinfer runs one scoring thread per core already.
 */
export function getSession(modelPath: string): Promise<InferenceSession> {
  let s = sessions.get(modelPath);
  if (!s) {
    s = ort()
      .InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: ortLogSeverity })
      .catch((err: unknown) => {
        sessions.delete(modelPath);
        throw new UsageError(`${modelPath}: cannot load ONNX model: ${errorMessage(err).split('\n')[0]}`);
      });
    sessions.set(modelPath, s);
  }
  return s;
}

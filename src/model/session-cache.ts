import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { InferenceSession } from 'onnxruntime-node';
import { FinalError, UsageError, errorMessage } from '../errors.js';

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

/**
 * Sessions are keyed by the sha256 of the bytes they were made from, never by path: a model file
 * replaced between two runs of a long-lived process gets a new session, and a run is only ever
 * scored by a session whose bytes hash to the run's model_sha256. Creating and releasing sessions
 * repeatedly leaks in onnxruntime-node (microsoft/onnxruntime#25325), so a few are kept (LRU) rather
 * than one per run. One intra-op thread: batchinfer runs one scoring thread per core already.
 */
const MAX_SESSIONS = 3;
const sessions = new Map<string, Promise<InferenceSession>>();
/** path -> the file's identity (size, mtime, inode) when it was last hashed, and that hash */
const hashed = new Map<string, { stat: string; sha256: string }>();

export interface LoadedModel {
  session: InferenceSession;
  sha256: string;
}

const statKey = (st: fs.Stats) => `${st.size}:${st.mtimeMs}:${st.ino}:${st.ctimeMs}`;

/**
 * The session for the model file at `modelPath`. With `expectSha256`, a file whose bytes hash
 * otherwise is refused (FinalError naming both hashes): that file is not the model the run was
 * planned with.
 */
export async function loadModel(modelPath: string, expectSha256?: string): Promise<LoadedModel> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(modelPath);
  } catch (err) {
    throw new UsageError(`${modelPath}: cannot read ONNX model (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
  const known = hashed.get(modelPath);
  // Unchanged since we hashed it and its session is cached: no need to read it again.
  if (known && known.stat === statKey(st) && sessions.has(known.sha256) && (expectSha256 === undefined || known.sha256 === expectSha256)) {
    return { session: await touch(known.sha256), sha256: known.sha256 };
  }
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(modelPath);
  } catch (err) {
    throw new UsageError(`${modelPath}: cannot read ONNX model (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  hashed.set(modelPath, { stat: statKey(st), sha256 });
  if (expectSha256 !== undefined && sha256 !== expectSha256)
    throw new FinalError(`model file ${modelPath} has sha256 ${sha256}, but the run was planned with sha256 ${expectSha256}: it was replaced or differs on this machine; put the run's model file back, or start a new run`);
  let s = sessions.get(sha256);
  if (!s) {
    s = ort()
      .InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: ortLogSeverity })
      .catch((err: unknown) => {
        sessions.delete(sha256);
        throw new UsageError(`${modelPath}: cannot load ONNX model: ${errorMessage(err).split('\n')[0]}`);
      });
    sessions.set(sha256, s);
    evict();
  }
  return { session: await touch(sha256), sha256 };
}

/** The session for a model file (whatever its bytes are now). */
export async function getSession(modelPath: string): Promise<InferenceSession> {
  return (await loadModel(modelPath)).session;
}

function touch(sha256: string): Promise<InferenceSession> {
  const s = sessions.get(sha256)!;
  sessions.delete(sha256);
  sessions.set(sha256, s); // most recently used last
  return s;
}

function evict(): void {
  while (sessions.size > MAX_SESSIONS) {
    // Not released: a chunk context of a run still going may hold it (a release under it crashes the
    // native side); dropped from the cache, it is freed with the last reference.
    sessions.delete(sessions.keys().next().value as string);
  }
}

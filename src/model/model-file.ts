import fs from 'node:fs';
import type { InferenceSession } from 'onnxruntime-node';
import { UsageError } from '../errors.js';
import { loadModel } from './session-cache.js';

export interface ModelFile {
  path: string;
  sha256: string;
  /** the spec's model.version, or the first 12 hex chars of the sha256 */
  version: string;
  /** made from exactly the bytes that hash to sha256 */
  session: InferenceSession;
}

/** `where` prefixes the message (e.g. "jobs/x.yaml: model.path"); `hint` says what to do. */
export async function describeModelFile(modelPath: string, version: string | undefined, where: string, hint = 'fix model.path (it is relative to the spec file)'): Promise<ModelFile> {
  try {
    await fs.promises.access(modelPath, fs.constants.R_OK);
    if (!(await fs.promises.stat(modelPath)).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${where}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code})`}: ${modelPath}; ${hint}`);
  }
  const { session, sha256 } = await loadModel(modelPath);
  return { path: modelPath, sha256, version: version ?? sha256.slice(0, 12), session };
}

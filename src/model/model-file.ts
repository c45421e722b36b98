import crypto from 'node:crypto';
import fs from 'node:fs';
import { UsageError } from '../errors.js';

export interface ModelFile {
  path: string;
  sha256: string;
  /** the spec's model.version, or the first 12 hex chars of the sha256 */
  version: string;
}

/** `where` prefixes the message (e.g. "jobs/x.yaml: model.path"); `hint` says what to do. */
export async function describeModelFile(modelPath: string, version: string | undefined, where: string, hint = 'fix model.path (it is relative to the spec file)'): Promise<ModelFile> {
  const hash = crypto.createHash('sha256');
  try {
    for await (const chunk of fs.createReadStream(modelPath)) hash.update(chunk as Buffer);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${where}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code})`}: ${modelPath}; ${hint}`);
  }
  const sha256 = hash.digest('hex');
  return { path: modelPath, sha256, version: version ?? sha256.slice(0, 12) };
}

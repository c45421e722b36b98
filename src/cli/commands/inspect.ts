import path from 'node:path';
import { describeModelFile } from '../../model/model-file.js';
import { getSession } from '../../model/session-cache.js';
import { formatShape, readSignature } from '../../model/signature.js';
import { print, type CommandIO } from '../io.js';

/** batchinfer inspect <model.onnx>: inputs and outputs with types and shapes. */
export async function inspectCommand(modelPath: string, flags: { json?: boolean }, io: CommandIO): Promise<number> {
  const abs = path.resolve(io.cwd, modelPath);
  const file = await describeModelFile(abs, undefined, modelPath, 'pass the path of an .onnx file');
  const sig = readSignature(await getSession(abs));
  if (flags.json) {
    print(io.stdout, JSON.stringify({ path: modelPath, sha256: file.sha256, version: file.version, ...sig }));
    return 0;
  }
  print(io.stdout, `${modelPath}  sha256 ${file.sha256}  (default version ${file.version})`);
  print(io.stdout, 'inputs:');
  for (const i of sig.inputs) print(io.stdout, `  ${i.name}  ${i.type} ${formatShape(i.shape)}`);
  print(io.stdout, 'outputs:');
  for (const o of sig.outputs) print(io.stdout, `  ${o.name}  ${o.isTensor ? `${o.type} ${formatShape(o.shape)}` : 'non-tensor (map/sequence): cannot be stored'}`);
  return 0;
}

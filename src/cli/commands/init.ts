import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { describeModelFile } from '../../model/model-file.js';
import { readSignature } from '../../model/signature.js';
import { draftSpec } from '../../init/draft-spec.js';
import { sampleCsv } from '../../init/sample-csv.js';
import { cliName, print, type CommandIO } from '../io.js';

export interface InitFlags {
  model: string;
  csv: string;
  key?: string;
  out?: string;
  name?: string;
  force?: boolean;
}

/** Rows sniffed for numeric columns and the key's type. */
const SAMPLE_ROWS = 20;

/** batchinfer init --model M --csv D: write a commented starting spec that validate passes. Exit 2 when the file exists (without --force). */
export async function initCommand(flags: InitFlags, io: CommandIO): Promise<number> {
  const csvAbs = path.resolve(io.cwd, flags.csv);
  const modelAbs = path.resolve(io.cwd, flags.model);
  const name = flags.name ?? jobNameOf(flags.out ? path.basename(flags.out) : path.basename(csvAbs));
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new UsageError(`--name ${name}: must be letters, digits, . _ - (starting with a letter or digit)`);
  const outAbs = path.resolve(io.cwd, flags.out ?? path.join('jobs', `${name}.yaml`));
  const outLabel = path.relative(io.cwd, outAbs) || outAbs;
  if (!flags.force && fs.existsSync(outAbs)) throw new UsageError(`${outLabel}: already exists; pass --name NAME (writes jobs/NAME.yaml) or --out PATH for a new spec, or --force to overwrite this one`);

  const model = await describeModelFile(modelAbs, undefined, `--model ${flags.model}`, 'pass the path of an .onnx file');
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(csvAbs);
  } catch (err) {
    throw new UsageError(`--csv ${flags.csv}: cannot read (${(err as NodeJS.ErrnoException).code}); pass the path of a CSV file with a header row`);
  }
  if (!st.isFile()) throw new UsageError(`--csv ${flags.csv}: not a regular file; pass the path of a CSV file with a header row`);
  const sample = await sampleCsv(csvAbs, SAMPLE_ROWS, flags.csv);

  const rel = (abs: string) => path.relative(path.dirname(outAbs), abs).split(path.sep).join('/');
  const draft = draftSpec({ sig: readSignature(model.session), sample, name, key: flags.key, modelPath: rel(modelAbs), csvPath: rel(csvAbs), modelLabel: flags.model, csvLabel: flags.csv });

  await fs.promises.mkdir(path.dirname(outAbs), { recursive: true });
  try {
    // 'wx': a file that appeared since the check above is still not overwritten
    await fs.promises.writeFile(outAbs, draft.text, { flag: flags.force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${outLabel}: already exists; pass --name NAME (writes jobs/NAME.yaml) or --out PATH for a new spec, or --force to overwrite this one`);
    throw new UsageError(`${outLabel}: cannot write (${code})`);
  }
  const cols = draft.inputs.reduce((n, i) => n + i.columns.length, 0);
  print(io.stdout, `wrote ${outLabel}: key ${draft.key}, ${cols} input columns, ${draft.outputs.length} result columns${draft.leftOut.length ? ` (left out: ${draft.leftOut.join(', ')})` : ''}`);
  const cli = cliName(io.env);
  print(io.stdout, `next: ${cli} validate ${outLabel} && ${cli} run ${outLabel} --preview 5`);
  return 0;
}

/** "wine.csv" -> "wine", "Daily Sales.yaml" -> "Daily_Sales": a job name from a file name. */
function jobNameOf(file: string): string {
  const base = file.replace(/\.(csv|ya?ml|tsv|txt)$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return base || 'job';
}

import { UsageError } from '../../errors.js';
import { formatPreview } from '../../preview/format-preview.js';
import { previewRows } from '../../preview/preview-rows.js';
import { loadSpec } from '../../spec/load-spec.js';
import { parseLogicalDate, todayUtc } from '../../spec/template.js';
import { print, type CommandIO } from '../io.js';
import { resolveDatabaseUrl } from '../settings.js';
import { formatTable } from '../table.js';

/** A preview bigger than this is a run: a table of it helps nobody, and it is all held in memory. */
const maxPreviewRows = 10_000;

/**
 * batchinfer run <spec> --preview N: score the first N rows and print them; writes nothing (no ledger,
 * no result table). Connects to a database only to read a Postgres source.
 */
export async function previewCommand(specPath: string, flags: { preview: string; date?: string; json?: boolean; databaseUrl?: string }, io: CommandIO): Promise<number> {
  const n = /^\d+$/.test(flags.preview.trim()) ? Number(flags.preview) : NaN;
  if (!(n >= 1 && n <= maxPreviewRows)) throw new UsageError(`--preview ${flags.preview}: expected a number of rows from 1 to ${maxPreviewRows}, e.g. --preview 5`);
  const spec = loadSpec(specPath, io.cwd, io.env);
  const logicalDate = flags.date !== undefined ? parseLogicalDate(flags.date) : todayUtc();
  const needsDb = spec.source.kind === 'postgres' && !spec.source.url;
  const databaseUrl = needsDb ? (await resolveDatabaseUrl(flags.databaseUrl, io, specPath)).url : '';
  const p = await previewRows({ spec, logicalDate, databaseUrl, rows: n, signal: io.signal });
  if (flags.json) {
    print(io.stdout, JSON.stringify({ rows: p.rows.map(({ key, inputs, outputs }) => ({ key, inputs, outputs })), rejects: p.rejects }));
    return 0;
  }
  print(io.stdout, `preview of ${spec.specLabel} (model ${p.modelVersion}): the first ${p.rows.length + p.rejects.length} rows; nothing written`);
  print(io.stdout, formatPreview(p, spec.key, formatTable));
  return 0;
}

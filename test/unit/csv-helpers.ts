import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobSpec } from '../../src/spec/job-spec.js';
import { CsvSource } from '../../src/sources/csv-source.js';
import { keyOf, type ChunkRange, type Reject } from '../../src/sources/source.js';

/** Shared helpers for the CSV unit tests (not a test file itself). */

let dir: string | undefined;
let counter = 0;

export function tmpDir(): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'batchinfer-unit-'));
  return dir;
}

export function cleanupTmp(): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

/** Write a CSV (string as UTF-8, or raw bytes) to a fresh temp file; returns its path. */
export function writeCsv(content: string | Buffer): string {
  const file = path.join(tmpDir(), `in-${process.pid}-${++counter}.csv`);
  fs.writeFileSync(file, content);
  return file;
}

/** A JobSpec built directly: key `id`, input x = [a, b, c], passthrough [note] unless overridden. */
export function makeSpec(over: Partial<JobSpec> = {}): JobSpec {
  return {
    name: 'unit',
    specPath: '/nowhere/unit.yaml',
    specLabel: 'unit.yaml',
    model: { path: '/nowhere/model.onnx' },
    source: { kind: 'csv', path: '/nowhere/in.csv' },
    key: 'id',
    keyType: 'text',
    inputs: [{ name: 'x', columns: ['a', 'b', 'c'] }],
    outputs: [{ column: 'score', output: 'sum' }],
    passthrough: ['note'],
    sink: { schema: 'scores', table: 'unit' },
    batchSize: 1024,
    chunkRows: 50_000,
    maxRejected: 0,
    ...over,
  };
}

export interface Row {
  key: string;
  line: number | null;
  /** per model input, the row's feature values */
  features: number[][];
  passthrough: (string | null)[];
}

export interface ReadResult {
  rows: Row[];
  rejects: Reject[];
  /** scorable rows per yielded batch */
  batchSizes: number[];
}

export function source(spec: JobSpec, file: string, readBytes = 1 << 16): CsvSource {
  return new CsvSource(spec, { file, label: path.basename(file), readBytes });
}

/** Read one chunk, copying every batch out (the source reuses its arrays). */
export async function readChunk(src: CsvSource, chunk: ChunkRange, spec: JobSpec): Promise<ReadResult> {
  const out: ReadResult = { rows: [], rejects: [], batchSizes: [] };
  for await (const b of src.read(chunk)) {
    out.batchSizes.push(b.n);
    for (let r = 0; r < b.n; r++) {
      out.rows.push({
        key: String(keyOf(b, r)),
        line: b.lines ? b.lines[r] : null,
        features: spec.inputs.map((inp, ii) => Array.from(b.features[ii].subarray(r * inp.columns.length, (r + 1) * inp.columns.length))),
        passthrough: spec.passthrough.map((_, pi) => {
          const v = b.passthrough[pi][r];
          return v === null || typeof v === 'string' ? v : v.toString('hex'); // a typed column's binary bytes
        }),
      });
    }
    out.rejects.push(...b.rejects.map((x) => ({ ...x })));
  }
  return out;
}

/** Plan the file and read every chunk in order, concatenated. */
export async function readAll(spec: JobSpec, file: string, readBytes = 1 << 16): Promise<ReadResult & { chunks: ChunkRange[] }> {
  const src = source(spec, file, readBytes);
  const chunks = await src.plan();
  const all: ReadResult & { chunks: ChunkRange[] } = { rows: [], rejects: [], batchSizes: [], chunks };
  for (const c of chunks) {
    const r = await readChunk(src, c, spec);
    all.rows.push(...r.rows);
    all.rejects.push(...r.rejects);
    all.batchSizes.push(...r.batchSizes);
  }
  return all;
}

/** One reject per bad record: its line, reason and raw text. */
export function rejectSummary(rejects: Reject[]): Array<Pick<Reject, 'line' | 'reason'>> {
  return rejects.map((r) => ({ line: r.line, reason: r.reason }));
}

import fs from 'node:fs';
import path from 'node:path';
import { InputNotReadyError, SourceError, UsageError } from '../errors.js';
import { defaults } from '../defaults.js';
import type { CsvPassthroughType, JobSpec } from '../spec/job-spec.js';
import { buildLayout, type RowLayout } from './row-layout.js';
import { CsvRecordParser } from './csv-records.js';
import { SeenKeys, type Key } from './keys.js';
import { TextKeySet } from './text-keys.js';
import { planCsvChunks, readCsvHeader, type CsvChunkRange, type CsvLimits } from './plan-csv-chunks.js';
import type { ChunkRange, PlanOptions, ReadOptions, RowBatch, Source } from './source.js';

/** The planner's read size: it only looks for line breaks and quotes, and runs beside the scoring threads, so it keeps a small buffer. */
const PLAN_READ_BYTES = 1 << 20;

export interface CsvSourceOptions {
  /** resolved file path (templates applied) */
  file: string;
  /** how the file is named in messages */
  label: string;
  readBytes: number;
  /** a longer record is broken: its first line is one reject; default defaults.maxRecordBytes */
  maxRecordBytes?: number;
  /** a longer header is refused; default defaults.maxHeaderBytes */
  maxHeaderBytes?: number;
  /** a longer text key (UTF-8 bytes) is a reject; default defaults.maxKeyBytes */
  maxKeyBytes?: number;
}

export class CsvSource implements Source {
  private layout?: RowLayout;
  private readonly limits: CsvLimits & { maxRecordBytes: number };

  constructor(
    private readonly spec: JobSpec,
    private readonly opts: CsvSourceOptions,
  ) {
    this.limits = { label: opts.label, maxRecordBytes: opts.maxRecordBytes ?? defaults.maxRecordBytes, maxHeaderBytes: opts.maxHeaderBytes ?? defaults.maxHeaderBytes };
  }

  async fingerprint(): Promise<string> {
    const st = await this.stat();
    return `csv:${path.resolve(this.opts.file)}:${st.size}:${Math.round(st.mtimeMs)}`;
  }

  /** The file's stat; refuses anything but a regular file (a FIFO or a device would hang or never end, a directory can't be read). */
  private async stat(): Promise<fs.Stats> {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(this.opts.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A missing file whose path depends on the date is most likely not delivered yet: exit 3, not a typo.
      if (code === 'ENOENT' && /\{\{\s*ds(_nodash)?\s*\}\}/.test(this.spec.source.kind === 'csv' ? this.spec.source.path : ''))
        throw new InputNotReadyError(`${this.spec.specLabel}: source.csv.path: ${this.opts.label} does not exist (yet): the input for this date is not ready; try again later, or check the path and the --date`);
      throw new UsageError(`${this.spec.specLabel}: source.csv.path: cannot read ${this.opts.label} (${code}); check the path (relative to the spec file) and the --date`);
    }
    if (!st.isFile()) throw new UsageError(`${this.spec.specLabel}: source.csv.path: ${this.opts.label} is ${kindOf(st)}, not a regular file; point it at a CSV file`);
    return st;
  }

  /** Header checked against the spec: every missing column reported with its spec path. */
  async header(): Promise<RowLayout> {
    if (this.layout) return this.layout;
    await this.stat();
    return this.useHeader(await readCsvHeader(this.opts.file, this.limits));
  }

  private useHeader(header: string[]): RowLayout {
    if (header.length === 0) throw new UsageError(`${this.opts.label}: the file is empty; expected a header row naming the columns`);
    const { layout, missing, duplicated } = buildLayout(this.spec, header);
    if (missing.length)
      throw new UsageError(
        missing.map((m) => `${this.spec.specLabel}: ${m.path}: column "${m.column}" is not in ${this.opts.label} (its columns: ${header.join(', ')})`).join('\n'),
      );
    if (duplicated.length)
      throw new UsageError(
        duplicated.map((d) => `${this.spec.specLabel}: ${d.path}: column "${d.column}" appears ${d.positions.length} times in the header of ${this.opts.label} (columns ${d.positions.join(', ')}); rename one`).join('\n'),
      );
    this.layout = layout;
    return layout;
  }

  async passthroughTypes(): Promise<string[]> {
    return this.spec.passthrough.map((_, p) => sqlTypeName[this.spec.passthroughTypes?.[p] ?? 'text']);
  }

  async check(): Promise<void> {
    await this.header();
  }

  async plan(opts: PlanOptions = {}): Promise<ChunkRange[]> {
    await this.stat();
    const textKeyColumn = this.spec.keyType === 'text' ? (this.layout ?? (await this.header())).keyIndex : undefined;
    const plan = await planCsvChunks(this.opts.file, this.spec.chunkRows, PLAN_READ_BYTES, { ...this.limits, onChunks: opts.onChunks, signal: opts.signal, textKeyColumn });
    this.useHeader(plan.header);
    return plan.chunks;
  }

  async *read(chunk: ChunkRange, opts: ReadOptions = {}): AsyncIterable<RowBatch> {
    const { signal } = opts;
    const layout = this.layout ?? (await this.header());
    const range = chunk.range as unknown as CsvChunkRange;
    let fd: fs.promises.FileHandle;
    try {
      fd = await fs.promises.open(this.opts.file, 'r');
    } catch (err) {
      throw new SourceError(`${this.opts.label}: cannot open (${(err as NodeJS.ErrnoException).code})`);
    }
    // This read owns its window and parser until it ends: reads of one source may interleave.
    const window = this.takeWindow();
    const parser = this.takeParser(layout, range.firstLine, opts.takenKeys);
    try {
      // One spare byte after the data holds a 0: the parsers' digit loops stop on it, so no read ever
      // leaves the buffer (an out-of-bounds typed-array read deoptimizes the hot loop, 3-5x slower).
      let buf = window;
      let filePos = range.startByte;
      let pos = 0;
      let end = 0;
      for (;;) {
        signal?.throwIfAborted();
        const final = filePos >= range.endByte;
        pos = parser.fill(buf, pos, end, final);
        const exhausted = final && pos >= end;
        if (parser.full || parser.batch.rejects.length >= this.spec.batchSize || (exhausted && (parser.batch.n > 0 || parser.batch.rejects.length > 0))) {
          yield parser.batch;
          parser.reset();
          continue;
        }
        if (exhausted) return;
        // Need more bytes: keep the unfinished record (shorter than maxRecordBytes: the parser rejects
        // a longer one), read the next window after it.
        const left = end - pos;
        if (buf.length - 1 - left < Math.max(1, this.opts.readBytes >> 1)) {
          // a record longer than half the window: grow it, up to what the longest record needs
          const bigger = Buffer.allocUnsafe(Math.min(Math.max(buf.length * 2, left + this.opts.readBytes + 1), this.limits.maxRecordBytes + this.opts.readBytes + 1));
          buf.copy(bigger, 0, pos, end);
          buf = bigger;
        } else buf.copy(buf, 0, pos, end);
        pos = 0;
        end = left;
        const want = Math.min(buf.length - 1 - end, range.endByte - filePos);
        const { bytesRead } = await fd.read(buf, end, want, filePos);
        if (bytesRead === 0 && want > 0) throw new SourceError(`${this.opts.label}: file shrank while reading (expected bytes up to ${range.endByte})`);
        filePos += bytesRead;
        end += bytesRead;
        buf[end] = 0;
        parser.refilled();
      }
    } finally {
      // A window grown for a long record is dropped, so an idle source holds only the usual size.
      this.giveBack(window, parser);
      await fd.close();
    }
  }

  // Windows and parsers (with their batch arrays and key set) are reused read after read: a fresh
  // 4 MB buffer per chunk only churns the heap. A read takes one from the free list or makes its own.
  private readonly freeWindows: Buffer[] = [];
  private readonly freeParsers: CsvRecordParser[] = [];

  private takeWindow(): Buffer {
    return this.freeWindows.pop() ?? Buffer.allocUnsafe(this.opts.readBytes + 1);
  }

  private takeParser(layout: RowLayout, firstLine: number, takenKeys: ReadonlySet<Key> | undefined): CsvRecordParser {
    const parser = this.freeParsers.pop();
    if (parser) {
      parser.restart(firstLine, takenKeys);
      return parser;
    }
    const { maxRecordBytes } = this.limits;
    return new CsvRecordParser(layout, { batchSize: this.spec.batchSize, keyType: this.spec.keyType, seenKeys: this.spec.keyType === 'bigint' ? new SeenKeys(takenKeys) : new TextKeySet(takenKeys), maxRecordBytes, maxKeyBytes: this.opts.maxKeyBytes, passthroughTypes: this.spec.passthroughTypes }, firstLine);
  }

  private giveBack(window: Buffer, parser: CsvRecordParser): void {
    // Two of each cover the usual reader plus a key pre-pass; more would only hold memory.
    if (this.freeWindows.length < 2) this.freeWindows.push(window);
    if (this.freeParsers.length < 2) this.freeParsers.push(parser);
  }

  async close(): Promise<void> {
    this.freeWindows.length = 0;
    this.freeParsers.length = 0;
  }
}

/** A declared passthrough type as the catalog names it (format_type): what the existing table is compared with. */
const sqlTypeName: Record<CsvPassthroughType, string> = {
  text: 'text',
  date: 'date',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  numeric: 'numeric',
  bigint: 'bigint',
  integer: 'integer',
  smallint: 'smallint',
  'double precision': 'double precision',
  real: 'real',
  boolean: 'boolean',
};

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

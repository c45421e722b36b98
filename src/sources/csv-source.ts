import fs from 'node:fs';
import path from 'node:path';
import { SourceError, UsageError } from '../errors.js';
import type { JobSpec } from '../spec/job-spec.js';
import { buildLayout, type RowLayout } from './row-layout.js';
import { CsvRecordParser } from './csv-records.js';
import { SeenKeys, type Key } from './keys.js';
import { planCsvChunks, readCsvHeader, type CsvChunkRange } from './plan-csv-chunks.js';
import type { ChunkRange, PlanOptions, ReadOptions, RowBatch, Source } from './source.js';

/** The planner's read size: it only looks for line breaks and quotes, and runs beside the scoring threads, so it keeps a small buffer. */
const PLAN_READ_BYTES = 1 << 20;

export interface CsvSourceOptions {
  /** resolved file path (templates applied) */
  file: string;
  /** how the file is named in messages */
  label: string;
  readBytes: number;
}

export class CsvSource implements Source {
  private layout?: RowLayout;

  constructor(
    private readonly spec: JobSpec,
    private readonly opts: CsvSourceOptions,
  ) {}

  async fingerprint(): Promise<string> {
    const st = await this.stat();
    return `csv:${path.resolve(this.opts.file)}:${st.size}:${Math.round(st.mtimeMs)}`;
  }

  private async stat(): Promise<fs.Stats> {
    try {
      return await fs.promises.stat(this.opts.file);
    } catch (err) {
      throw new UsageError(`${this.spec.specLabel}: source.csv.path: cannot read ${this.opts.label} (${(err as NodeJS.ErrnoException).code}); check the path (relative to the spec file) and the --date`);
    }
  }

  /** Header checked against the spec: every missing column reported with its spec path. */
  async header(): Promise<RowLayout> {
    if (this.layout) return this.layout;
    await this.stat();
    return this.useHeader(await readCsvHeader(this.opts.file));
  }

  private useHeader(header: string[]): RowLayout {
    if (header.length === 0) throw new UsageError(`${this.opts.label}: the file is empty; expected a header row naming the columns`);
    const { layout, missing } = buildLayout(this.spec, header);
    if (missing.length)
      throw new UsageError(
        missing.map((m) => `${this.spec.specLabel}: ${m.path}: column "${m.column}" is not in ${this.opts.label} (its columns: ${header.join(', ')})`).join('\n'),
      );
    this.layout = layout;
    return layout;
  }

  async check(): Promise<void> {
    await this.header();
  }

  async plan(opts: PlanOptions = {}): Promise<ChunkRange[]> {
    await this.stat();
    const plan = await planCsvChunks(this.opts.file, this.spec.chunkRows, PLAN_READ_BYTES, opts.onChunks, opts.signal);
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
    let parser: CsvRecordParser | undefined;
    try {
      // One spare byte after the data holds a 0: the parsers' digit loops stop on it, so no read ever
      // leaves the buffer (an out-of-bounds typed-array read deoptimizes the hot loop, 3-5x slower).
      let buf = this.takeWindow();
      parser = this.takeParser(layout, range.firstLine, opts.takenKeys);
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
        // Need more bytes: keep the unfinished record, read the next window after it.
        const left = end - pos;
        if (buf.length - 1 - left < Math.max(1, this.opts.readBytes >> 1)) {
          // a record longer than half the window: grow it
          const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, left + this.opts.readBytes + 1));
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
      }
    } finally {
      this.windowInUse = false;
      if (parser !== undefined && parser === this.parser) this.parserInUse = false;
      await fd.close();
    }
  }

  /** The record parser (and its batch arrays and key set), reused chunk after chunk like the window. */
  private parser?: CsvRecordParser;
  private parserInUse = false;
  private takeParser(layout: RowLayout, firstLine: number, takenKeys: ReadonlySet<Key> | undefined): CsvRecordParser {
    const fresh = () => new CsvRecordParser(layout, { batchSize: this.spec.batchSize, keyType: this.spec.keyType, seenKeys: new SeenKeys(takenKeys) }, firstLine);
    if (this.parserInUse) return fresh();
    this.parserInUse = true;
    if (!this.parser) return (this.parser = fresh());
    this.parser.restart(firstLine, takenKeys);
    return this.parser;
  }

  /** The read window, reused across this source's chunks: a fresh 4 MB buffer per chunk only churns the heap. */
  private window?: Buffer;
  private windowInUse = false;
  private takeWindow(): Buffer {
    if (this.windowInUse || !this.window) {
      const fresh = Buffer.allocUnsafe(this.opts.readBytes + 1);
      if (this.windowInUse) return fresh;
      this.window = fresh;
    }
    this.windowInUse = true;
    return this.window;
  }

  async close(): Promise<void> {}
}

import fs from 'node:fs';
import { SourceError, UsageError } from '../errors.js';
import { defaults } from '../defaults.js';
import { Broken, NEED_MORE, RecordBounds, SKIP_TO_LF, fieldAt } from './csv-record-bounds.js';
import type { ChunkRange } from './source.js';

const QUOTE = 34;
const LF = 10;
const CR = 13;
/** The header is read in one piece of this size when it fits (it nearly always does). */
const HEADER_READ_BYTES = 64 << 10;

export interface CsvPlan {
  header: string[];
  /** byte offset after the header record */
  headerEnd: number;
  fileBytes: number;
  chunks: ChunkRange[];
}

/** The byte range of a CSV chunk, stored in batchinfer.chunks.range. */
export interface CsvChunkRange {
  startByte: number;
  endByte: number;
  /** file line where the chunk's first record starts */
  firstLine: number;
}

export interface CsvLimits {
  /** the file as named in messages */
  label?: string;
  /** a longer record is broken (see RecordBounds); default defaults.maxRecordBytes */
  maxRecordBytes?: number;
  /** a longer header is refused; default defaults.maxHeaderBytes */
  maxHeaderBytes?: number;
}

export interface PlanCsvOptions extends CsvLimits {
  onChunks?: (chunks: ChunkRange[]) => void;
  signal?: AbortSignal;
  /** the text key's column: chunks whose first key is shorter than the file's last keys are marked scoreLast */
  textKeyColumn?: number;
}

/** How much of the file's end is read for a key of its last records. */
const TAIL_READ_BYTES = 64 << 10;

/**
 * One pass over the file, record by record with the reader's own record rule (RecordBounds), so chunks
 * start on record boundaries even when quoted fields hold newlines or a quote is left open, and each
 * chunk's plannedRows is exactly the records the reader will find in it (blank lines are not records).
 * A chunk ends where the first record of the next one starts. Any chunk can then be read without the
 * bytes before it.
 */
export async function planCsvChunks(file: string, chunkRows: number, readBytes: number, opts: PlanCsvOptions = {}): Promise<CsvPlan> {
  const { onChunks, signal } = opts;
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const head = await headerRecord(handle, size, opts);
    // Ids in order as text keys ("1", "2", ... "1000000"): in bytes the B-tree puts "100001" between
    // "10000" and "10001", so a later chunk's ids would go in among the first chunks' shorter ones (page
    // splits all over the index). Chunks whose first key is shorter than a key near the end of the file
    // are marked to be scored last: the rest append in order, the short ones go in at the end
    // (docs/performance.md, "Ids as text keys"). A hint only: a key that can't be read plainly marks nothing.
    const keyColumn = opts.textKeyColumn;
    const tailKey = keyColumn === undefined ? -1 : await tailKeyBytes(handle, size, head.end, keyColumn);
    let firstKey = -1; // the open chunk's first key's length
    const bounds = new RecordBounds(opts.maxRecordBytes ?? defaults.maxRecordBytes);
    const chunks: ChunkRange[] = [];
    let handedOut = 0;
    // The block holds the file's bytes [base, base + len). A record longer than the block is read again
    // from its start with a bigger block (at most maxRecordBytes: a longer record is broken).
    let block = Buffer.allocUnsafe(Math.max(1, Math.min(readBytes, size)));
    let base = 0;
    let len = 0;
    const load = async (at: number) => {
      signal?.throwIfAborted();
      if (at === base && len === block.length) block = Buffer.allocUnsafe(Math.min(block.length * 2, bounds.maxBytes + 1));
      const { bytesRead } = await handle.read(block, 0, Math.min(block.length, size - at), at);
      if (bytesRead === 0 && at < size) throw new SourceError(`${opts.label ?? file}: the file shrank while it was being planned`);
      base = at;
      len = bytesRead;
      bounds.forget();
      quoteAt = -1;
    };
    let pos = head.end;
    let line = 1 + head.lines;
    let chunkStart = pos;
    let chunkLine = line;
    let rows = 0;
    // A record starts at pos and this chunk is full: the record opens the next one.
    const newChunk = () => {
      chunks.push(chunk(chunks.length, chunkStart, pos, chunkLine, rows, firstKey >= 0 && firstKey < tailKey));
      chunkStart = pos;
      chunkLine = line;
      rows = 0;
      if (onChunks) onChunks(chunks.slice(handedOut, (handedOut = chunks.length)));
    };
    // the block's next quote at or after the last record start (-1: not looked for yet, -2: none)
    let quoteAt = -1;
    while (pos < size) {
      if (pos >= base + len) await load(pos);
      const i = pos - base;
      const final = base + len >= size;
      // A blank line is not a record.
      if (block[i] === LF || (block[i] === CR && i + 1 < len && block[i + 1] === LF)) {
        pos += block[i] === LF ? 1 : 2;
        line++;
        continue;
      }
      // The usual record (no quote before its line break, not too long) without a call: RecordBounds'
      // first case, checked the same way.
      const nl = block.indexOf(LF, i);
      if (nl >= 0 && nl < len && nl - i < bounds.maxBytes) {
        if (quoteAt < i && quoteAt !== -2) {
          quoteAt = block.indexOf(QUOTE, i);
          if (quoteAt < 0 || quoteAt >= len) quoteAt = -2; // none left in the block
        }
        if (quoteAt === -2 || quoteAt > nl) {
          if (rows === chunkRows) newChunk();
          if (rows === 0 && tailKey >= 0) firstKey = plainFieldBytes(block, i, nl, keyColumn!);
          rows++;
          line++;
          pos = base + nl + 1;
          continue;
        }
      }
      const r = block[i] === CR && i + 1 >= len && !final ? NEED_MORE : bounds.scan(block, i, len, final);
      if (r === NEED_MORE) {
        await load(pos);
        continue;
      }
      if (rows === chunkRows) newChunk();
      if (rows === 0) firstKey = -1; // an odd first record (quoted, broken): no hint for its chunk
      rows++;
      line += bounds.lines;
      if (r === SKIP_TO_LF) {
        // A broken record whose line is longer than the block: skip to its end.
        for (pos = base + len; pos < size; ) {
          await load(pos);
          const nl = block.indexOf(LF);
          if (nl >= 0 && nl < len) {
            pos = base + nl + 1;
            break;
          }
          pos = base + len;
        }
        continue;
      }
      pos = base + r;
    }
    if (rows > 0) chunks.push(chunk(chunks.length, chunkStart, size, chunkLine, rows, firstKey >= 0 && firstKey < tailKey));
    if (onChunks && chunks.length > handedOut) onChunks(chunks.slice(handedOut));
    return { header: head.names, headerEnd: head.end, fileBytes: size, chunks };
  } finally {
    await handle.close();
  }
}

function chunk(i: number, startByte: number, endByte: number, firstLine: number, rows: number, scoreLast: boolean): ChunkRange {
  const range: CsvChunkRange = { startByte, endByte, firstLine };
  return { chunk: i, range: { ...range }, plannedRows: rows, ...(scoreLast ? { scoreLast } : {}) };
}

/** Bytes of field `field` of the plain record at buf[s, end) (no quote up to that field's end); -1 when not plain or not there. */
export function plainFieldBytes(buf: Uint8Array, s: number, end: number, field: number): number {
  let f = 0;
  let start = s;
  for (let i = s; i <= end; i++) {
    const c = i < end ? buf[i] : LF;
    if (c === QUOTE) return -1;
    if (c === 44 || c === LF || c === CR) {
      if (f === field) return i - start;
      if (c !== 44) return -1;
      f++;
      start = i + 1;
    }
  }
  return -1;
}

/** The key's length in a record near the end of the file (the first whole line of its last TAIL_READ_BYTES); -1 for a small file or a key that is not plain. */
async function tailKeyBytes(handle: fs.promises.FileHandle, size: number, headerEnd: number, keyColumn: number): Promise<number> {
  if (size - headerEnd <= 2 * TAIL_READ_BYTES) return -1; // a chunk or so: nothing to order
  const buf = Buffer.allocUnsafe(TAIL_READ_BYTES);
  const { bytesRead } = await handle.read(buf, 0, TAIL_READ_BYTES, size - TAIL_READ_BYTES);
  const start = buf.indexOf(LF) + 1;
  const nl = start > 0 ? buf.indexOf(LF, start) : -1;
  return nl < 0 || nl >= bytesRead ? -1 : plainFieldBytes(buf, start, nl, keyColumn);
}

/** The header record as strings: BOM stripped, quotes honoured (at a field's start, as in records), line break dropped. */
export function parseHeader(buf: Buffer): string[] {
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\r?\n$/, '');
  if (text.length === 0) return [];
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '' && (i === 0 || text[i - 1] === ',')) quoted = true;
    else if (c === ',') fields.push(cur), (cur = '');
    else cur += c;
  }
  fields.push(cur);
  return fields;
}

export interface CsvHeader {
  names: string[];
  /** byte offset after the header record (and its line break) */
  end: number;
  /** physical lines it spans */
  lines: number;
}

/**
 * The header record, read with bounded memory: at most maxHeaderBytes (plus a BOM) are read. Refuses
 * (UsageError naming the file) a header that is longer, has a quote left open, or ends in a bare CR
 * (a file with CR-only line endings would otherwise read as one long header and no rows).
 */
async function headerRecord(handle: fs.promises.FileHandle, size: number, opts: CsvLimits): Promise<CsvHeader> {
  const label = opts.label ?? 'the CSV file';
  const maxBytes = opts.maxHeaderBytes ?? defaults.maxHeaderBytes;
  const bounds = new RecordBounds(maxBytes);
  const cap = Math.min(size, 3 + maxBytes + 1);
  let buf = Buffer.alloc(0);
  for (let want = Math.min(cap, HEADER_READ_BYTES); ; want = cap) {
    buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buf, 0, want, 0);
    buf = buf.subarray(0, bytesRead);
    const bom = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
    if (usesCrOnly(buf, bytesRead >= size)) throw new UsageError(`${label}: uses CR-only line endings (old Mac/Excel export); convert to LF or CRLF, e.g. \`tr '\\r' '\\n' < in.csv > out.csv\``);
    const r = bounds.scan(buf, bom, buf.length, bytesRead >= size);
    if (r === NEED_MORE && want < cap) continue;
    if (bounds.broken === Broken.Quote) throw new UsageError(`${label}: the header has a quote left open (in column ${fieldAt(buf, bom, bounds.openQuote) + 1}); expected a header row naming the columns`);
    if (r < 0 || bounds.broken === Broken.Long) throw new UsageError(`${label}: the header line is longer than ${maxBytes} bytes; expected a header row naming the columns`);
    return { names: parseHeader(buf.subarray(0, bounds.contentEnd)), end: bounds.next, lines: bounds.lines };
  }
}

/** A CR not followed by LF before the first LF: the file's lines end in CR alone. */
function usesCrOnly(buf: Buffer, wholeFile: boolean): boolean {
  const lf = buf.indexOf(LF);
  for (let cr = buf.indexOf(CR); cr >= 0 && (lf < 0 || cr < lf); cr = buf.indexOf(CR, cr + 1)) {
    if (cr + 1 < buf.length ? buf[cr + 1] !== LF : wholeFile) return true;
  }
  return false;
}

/** Read just the header record (quote-aware), without scanning the file; refuses what headerRecord refuses. */
export async function readCsvHeader(file: string, limits: CsvLimits = {}): Promise<string[]> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    return (await headerRecord(handle, size, limits)).names;
  } finally {
    await handle.close();
  }
}

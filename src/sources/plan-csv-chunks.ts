import fs from 'node:fs';
import type { ChunkRange } from './source.js';

const QUOTE = 34;
const LF = 10;
const COMMA = 44;

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

/**
 * One pass over the file with memchr-speed indexOf, tracking quote parity, so chunks start on record
 * boundaries even when quoted fields hold newlines. Any chunk can then be read without the bytes before it.
 */
export async function planCsvChunks(file: string, chunkRows: number, readBytes: number, onChunks?: (chunks: ChunkRange[]) => void, signal?: AbortSignal): Promise<CsvPlan> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const chunks: ChunkRange[] = [];
    let headerEnd = -1;
    let inQuote = false;
    let line = 1;
    let rows = 0;
    let chunkStart = 0;
    let chunkLine = 2;
    const recordEnd = (offset: number) => {
      if (headerEnd < 0) {
        headerEnd = chunkStart = offset;
        chunkLine = line;
        return;
      }
      if (++rows === chunkRows) {
        chunks.push(chunk(chunks.length, chunkStart, offset, chunkLine, rows));
        chunkStart = offset;
        chunkLine = line;
        rows = 0;
      }
    };
    const buf = Buffer.allocUnsafe(readBytes);
    let handedOut = 0;
    // A quote opens a quoted field only at a field start (as the record parser reads it); inside one,
    // a doubled quote is a literal quote. `pendingClose`: a block ended on a quote inside a quoted field.
    let prevByte = LF;
    let pendingClose = false;
    for (let base = 0; base < size; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buf, 0, Math.min(readBytes, size - base), base);
      if (bytesRead === 0) break;
      const b = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      const bomEnd = base === 0 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
      const fieldStart = (q: number) => (q === bomEnd && base === 0) || (q === 0 ? prevByte : b[q - 1]) === COMMA || (q === 0 ? prevByte : b[q - 1]) === LF;
      let p = bomEnd;
      if (pendingClose) {
        pendingClose = false;
        if (b[0] === QUOTE) p = 1;
        else inQuote = false;
      }
      let nextQuote = -1;
      while (p < b.length) {
        if (inQuote) {
          const q = b.indexOf(QUOTE, p);
          const stop = q < 0 ? b.length : q;
          for (let i = b.indexOf(LF, p); i >= 0 && i < stop; i = b.indexOf(LF, i + 1)) line++;
          if (q < 0) break;
          if (q + 1 >= b.length) {
            pendingClose = true;
            break;
          }
          if (b[q + 1] === QUOTE) p = q + 2;
          else {
            inQuote = false;
            p = q + 1;
          }
          continue;
        }
        if (nextQuote !== Infinity && nextQuote < p) {
          nextQuote = b.indexOf(QUOTE, p);
          while (nextQuote >= 0 && !fieldStart(nextQuote)) nextQuote = b.indexOf(QUOTE, nextQuote + 1);
          if (nextQuote < 0) nextQuote = Infinity;
        }
        let nl = b.indexOf(LF, p);
        if (nl < 0) nl = Infinity as number;
        if (nextQuote < nl) {
          inQuote = true;
          p = nextQuote + 1;
          continue;
        }
        if (nl === Infinity) break;
        line++;
        recordEnd(base + nl + 1);
        p = nl + 1;
      }
      prevByte = b[b.length - 1];
      base += bytesRead;
      if (onChunks && chunks.length > handedOut) onChunks(chunks.slice(handedOut, (handedOut = chunks.length)));
    }
    if (headerEnd < 0) headerEnd = size; // header without a line break
    else if (chunkStart < size) chunks.push(chunk(chunks.length, chunkStart, size, chunkLine, rows + (prevByte === LF ? 0 : 1)));
    if (onChunks && chunks.length > handedOut) onChunks(chunks.slice(handedOut));
    const headerBuf = Buffer.alloc(headerEnd);
    await handle.read(headerBuf, 0, headerEnd, 0);
    return { header: parseHeader(headerBuf), headerEnd, fileBytes: size, chunks };
  } finally {
    await handle.close();
  }
}

function chunk(i: number, startByte: number, endByte: number, firstLine: number, rows: number): ChunkRange {
  const range: CsvChunkRange = { startByte, endByte, firstLine };
  return { chunk: i, range: { ...range }, plannedRows: rows };
}

/** The header record as strings: BOM stripped, quotes honoured, line break dropped. */
export function parseHeader(buf: Buffer): string[] {
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\r?\n$/, '');
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') fields.push(cur), (cur = '');
    else cur += c;
  }
  fields.push(cur);
  return text.length === 0 ? [] : fields;
}

/** Read just the header record (quote-aware), without scanning the file. */
export async function readCsvHeader(file: string): Promise<string[]> {
  const handle = await fs.promises.open(file, 'r');
  try {
    let buf = Buffer.alloc(0);
    let quotes = 0;
    for (let pos = 0; ; ) {
      const more = Buffer.alloc(1 << 16);
      const { bytesRead } = await handle.read(more, 0, more.length, pos);
      if (bytesRead === 0) return parseHeader(buf);
      const start = buf.length;
      buf = Buffer.concat([buf, more.subarray(0, bytesRead)]);
      pos += bytesRead;
      for (let i = start; i < buf.length; i++) {
        if (buf[i] === QUOTE) quotes++;
        else if (buf[i] === LF && quotes % 2 === 0) return parseHeader(buf.subarray(0, i + 1));
      }
    }
  } finally {
    await handle.close();
  }
}

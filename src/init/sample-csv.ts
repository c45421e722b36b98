import fs from 'node:fs';
import { readCsvHeader } from '../sources/plan-csv-chunks.js';

/** Bytes read to sniff column types: a few dozen rows of nearly any file. */
const SAMPLE_BYTES = 64 << 10;

export interface CsvSample {
  header: string[];
  /** the first data records (as many as fit the sample and `rows`), fields as text */
  rows: string[][];
}

/**
 * The header (read as the source reads it) and the first few records, for `init` to guess which columns
 * are numeric and what type the key is. A record cut off by the end of the sample is dropped.
 */
export async function sampleCsv(file: string, rows: number, label: string): Promise<CsvSample> {
  const header = await readCsvHeader(file, { label });
  const handle = await fs.promises.open(file, 'r');
  let text: string;
  let whole: boolean;
  try {
    const buf = Buffer.allocUnsafe(SAMPLE_BYTES);
    const { bytesRead } = await handle.read(buf, 0, SAMPLE_BYTES, 0);
    whole = bytesRead < SAMPLE_BYTES;
    text = buf.toString('utf8', 0, bytesRead);
  } finally {
    await handle.close();
  }
  const records = parseRecords(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, whole);
  return { header, rows: records.slice(1, rows + 1) };
}

/** RFC 4180 records (quotes at a field's start, "" inside); blank lines skipped; the last record only when `whole`. */
function parseRecords(text: string, whole: boolean): string[][] {
  const out: string[][] = [];
  let fields: string[] = [];
  let cur = '';
  let quoted = false;
  let atStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
      continue;
    }
    if (c === '"' && atStart) {
      quoted = true;
      atStart = false;
    } else if (c === ',') {
      fields.push(cur);
      cur = '';
      atStart = true;
    } else if (c === '\n') {
      fields.push(cur.endsWith('\r') ? cur.slice(0, -1) : cur);
      if (fields.length > 1 || fields[0] !== '') out.push(fields);
      fields = [];
      cur = '';
      atStart = true;
    } else {
      cur += c;
      atStart = false;
    }
  }
  if (whole && !quoted && (fields.length > 0 || cur !== '')) out.push([...fields, cur.endsWith('\r') ? cur.slice(0, -1) : cur]);
  return out;
}

import { isUtf8 } from 'node:buffer';
import type { Reject, RowBatch } from './source.js';
import type { RowLayout } from './row-layout.js';
import { badNumberReason, decimalText, parseNumber, scanNumber, scanned } from './parse-number.js';
import { FastRole, fastPlan, fastRecord, type FastPlan } from './csv-fast-record.js';
import { keyLengthProblem, parseBigintKey, type Key, type SeenKeys } from './keys.js';
import { TextKeySet } from './text-keys.js';
import { canonicalUuid, isCanonicalUuid, notUuidReason } from './uuid-keys.js';
import type { KeyType } from '../spec/job-spec.js';
import { Broken, NEED_MORE, RecordBounds, SKIP_TO_LF, fieldAt, fieldText } from './csv-record-bounds.js';
import { defaults } from '../defaults.js';

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

export interface RecordOptions {
  batchSize: number;
  keyType: KeyType;
  /** every key seen so far in this chunk (duplicates are rejects): a TextKeySet for text and uuid keys */
  seenKeys: SeenKeys | TextKeySet;
  /** a longer record is broken: its first line is one reject (RecordBounds); default defaults.maxRecordBytes */
  maxRecordBytes?: number;
  /** a longer text key (UTF-8 bytes) is a reject; default defaults.maxKeyBytes */
  maxKeyBytes?: number;
  /** the declared passthrough types, for reasons */
  passthroughTypes?: readonly string[];
}

/** A broken record's raw text is kept up to this many bytes (it may be a whole megabytes-long line). */
const RAW_PREVIEW_BYTES = 4096;

/**
 * RFC 4180 records (quoted fields with commas, newlines and doubled quotes; CRLF or LF) parsed
 * straight from bytes into a RowBatch: features into Float32Arrays, key and passthrough as strings.
 * A record is either scored or rejected with its reason, line and raw text. Where a record ends is
 * RecordBounds' rule, the planner's too.
 */
export class CsvRecordParser {
  readonly batch: RowBatch;
  /** file line where the next record starts */
  line: number;
  private reason: string | null = null;
  private quoteProblem: string | null = null;
  private key: Key | null = null;
  /** a text key the fast path left as bytes (ASCII, no NUL) at buf[keyStart, keyEnd); -1: none */
  private keyStart = -1;
  private keyEnd = -1;
  /** text keys as bytes (key_type text); undefined for bigint keys */
  private readonly textKeys: TextKeySet | undefined;
  /** key_type: uuid: each key checked and kept canonical (in textKeys) */
  private readonly uuidKeys: boolean;
  private lineAdd = 0;
  /** a broken record's line goes on past the bytes seen so far: drop bytes up to its line break */
  private skipping = false;
  private readonly bounds: RecordBounds;
  private readonly maxKeyBytes: number;

  /** per column: the model input it alone feeds (-1: not a plain single feature) and its position */
  private readonly fastInput: Int32Array;
  private readonly fastPos: Int32Array;
  /** whole-record fast path, when every feature column feeds one slot */
  private readonly fast: FastPlan | undefined;
  /** some passthrough column has a declared type (parsed after the record is read) */
  private readonly typed: boolean;
  private readonly typeNames: readonly string[];

  constructor(
    private readonly layout: RowLayout,
    private readonly opts: RecordOptions,
    firstLine: number,
  ) {
    this.line = firstLine;
    this.bounds = new RecordBounds(opts.maxRecordBytes ?? defaults.maxRecordBytes);
    this.maxKeyBytes = opts.maxKeyBytes ?? defaults.maxKeyBytes;
    this.fast = fastPlan(layout, opts.keyType);
    this.typed = layout.passthroughParsers.some((p) => p !== undefined);
    this.typeNames = opts.passthroughTypes ?? [];
    this.textKeys = opts.seenKeys instanceof TextKeySet ? opts.seenKeys : undefined;
    this.uuidKeys = opts.keyType === 'uuid' && this.textKeys !== undefined;
    this.fastInput = new Int32Array(layout.columnCount).fill(-1);
    this.fastPos = new Int32Array(layout.columnCount);
    layout.featureSlots.forEach((slots, fi) => {
      if (slots.length === 1 && fi !== layout.keyIndex && layout.passthroughSlot[fi] < 0) [this.fastInput[fi], this.fastPos[fi]] = slots[0];
    });
    this.batch = {
      n: 0,
      features: layout.inputWidths.map((w) => new Float32Array(opts.batchSize * w)),
      keys: new Array<Key>(opts.batchSize),
      passthrough: Array.from({ length: layout.passthroughCount }, () => new Array<string | Buffer | null>(opts.batchSize)),
      rejects: [],
      lines: new Array<number>(opts.batchSize),
      textKeys: this.textKeys,
      keyIds: this.textKeys ? new Int32Array(opts.batchSize) : undefined,
    };
  }

  /** Read another chunk with the same arrays: from its first line, with a fresh key set. */
  restart(firstLine: number, takenKeys?: ReadonlySet<Key>): void {
    this.line = firstLine;
    this.skipping = false;
    this.bounds.forget();
    this.opts.seenKeys.reset(takenKeys);
    this.reset();
  }

  /** Start a new batch (the previous one has been consumed). */
  reset(): void {
    this.batch.n = 0;
    this.batch.rejects = [];
  }

  /** The caller put other bytes in the buffer (or a new buffer): forget what was cached about them. */
  refilled(): void {
    this.bounds.forget();
  }

  get full(): boolean {
    return this.batch.n >= this.opts.batchSize;
  }

  /**
   * Parse records from buf[pos, limit) until the batch is full or no complete record is left.
   * `final`: limit is the end of the chunk, so a last record without a line break ends there.
   * Returns the position after the last complete record. buf[limit] must be a readable byte (the
   * caller's spare 0): number scans stop on it.
   */
  fill(buf: Buffer, pos: number, limit: number, final: boolean): number {
    if (this.skipping) {
      const nl = buf.indexOf(LF, pos);
      if (nl < 0 || nl >= limit) {
        if (final) this.skipping = false;
        return limit;
      }
      this.skipping = false;
      pos = nl + 1;
    }
    while (pos < limit && !this.full && this.batch.rejects.length < this.opts.batchSize) {
      const next = this.parseRecord(buf, pos, limit, final);
      if (next < 0) break;
      pos = next;
    }
    return pos;
  }

  private parseRecord(buf: Buffer, start: number, limit: number, final: boolean): number {
    // A blank line is not a record.
    if (buf[start] === LF) {
      this.line++;
      return start + 1;
    }
    if (buf[start] === CR && start + 1 < limit && buf[start + 1] === LF) {
      this.line++;
      return start + 2;
    }
    const { layout } = this;
    const r = this.batch.n;
    this.keyStart = -1;
    if (this.fast) {
      const next = fastRecord(buf, start, limit, this.fast, this.batch.features, layout.inputWidths, r);
      if (next >= 0 && next - start <= this.bounds.maxBytes && this.fastText(buf, r)) {
        if (this.fast.role[layout.keyIndex] === FastRole.IntKey) this.key = this.fast.key[0];
        this.reason = null;
        this.quoteProblem = null;
        this.lineAdd = 0;
        return this.finishRecord(buf, start, buf[next - 2] === CR ? next - 2 : next - 1, next, layout.columnCount, r);
      }
    }
    // The general path: where the record ends first (the planner's rule), then its fields.
    const bounds = this.bounds;
    const next = bounds.scan(buf, start, limit, final);
    if (next === NEED_MORE) return -1;
    if (bounds.broken !== Broken.No) return this.brokenRecord(buf, start, next);
    this.reason = null;
    this.quoteProblem = null;
    this.key = null;
    this.keyStart = -1;
    this.lineAdd = bounds.lines - 1;
    const end = bounds.contentEnd;
    let p = start;
    let field = 0;
    for (;;) {
      let fs: number;
      let fe: number;
      let escaped = false;
      if (p < end && buf[p] === QUOTE) {
        // RecordBounds found the closing quote.
        fs = ++p;
        for (;;) {
          const q = buf.indexOf(QUOTE, p);
          if (q < 0 || q >= end) {
            fe = p = end;
            break;
          }
          if (q + 1 < end && buf[q + 1] === QUOTE) {
            escaped = true;
            p = q + 2;
            continue;
          }
          fe = q;
          p = q + 1;
          break;
        }
        if (p < end && buf[p] !== COMMA) {
          this.quoteProblem ??= `malformed quoted field ${field + 1}: text after the closing quote`;
          while (p < end && buf[p] !== COMMA) p++;
        }
      } else {
        fs = p;
        // Hot path: a column that only feeds one feature slot is scanned and parsed in one pass (the
        // scan stops at buf[end]: a line break or the caller's spare 0).
        const input = field < layout.columnCount ? this.fastInput[field] : -1;
        if (input >= 0) {
          const stop = scanNumber(buf, p);
          const v = scanned.value;
          if (v === v && stop > fs && (stop === end || (stop < end && buf[stop] === COMMA))) {
            if (this.reason === null && this.quoteProblem === null) this.batch.features[input][r * layout.inputWidths[input] + this.fastPos[field]] = v;
            field++;
            if (stop === end) break;
            p = stop + 1;
            continue;
          }
        }
        while (p < end && buf[p] !== COMMA) p++;
        fe = p;
      }
      if (field < layout.columnCount && this.reason === null && this.quoteProblem === null) this.field(field, buf, fs, fe, escaped, r);
      field++;
      if (p >= end) break;
      p++;
    }
    return this.finishRecord(buf, start, end, bounds.next, field, r);
  }

  /** A broken record (RecordBounds): its first line is one reject; reading goes on at the next line. */
  private brokenRecord(buf: Buffer, start: number, next: number): number {
    const bounds = this.bounds;
    const line = this.line;
    this.line++;
    const reason =
      bounds.broken === Broken.Quote
        ? `unterminated quote opened in column ${this.columnName(fieldAt(buf, start, bounds.openQuote))}`
        : `record is longer than ${bounds.maxBytes} bytes`;
    const end = bounds.contentEnd;
    const raw = end - start > RAW_PREVIEW_BYTES ? buf.toString('utf8', start, start + RAW_PREVIEW_BYTES) + '…' : buf.toString('utf8', start, end);
    // The key, when its field comes before the quote left open.
    const key = bounds.broken === Broken.Quote ? fieldText(buf, start, this.layout.keyIndex, bounds.openQuote) : null;
    this.batch.rejects.push({ line, key: key ? printable(preview(key, 200)) : null, reason: printable(reason), raw });
    if (next === SKIP_TO_LF) {
      this.skipping = true;
      return end;
    }
    return next;
  }

  private columnName(fi: number): string {
    return fi < this.layout.columnCount ? `"${this.layout.names[fi]}"` : `${fi + 1} (past the header's ${this.layout.columnCount})`;
  }

  private finishRecord(buf: Buffer, start: number, contentEnd: number, next: number, fields: number, r: number): number {
    const { layout, batch } = this;
    const line = this.line;
    this.line += 1 + this.lineAdd;
    // A broken quote explains a wrong field count, so it is the reason given.
    let reason = this.quoteProblem ?? (fields !== layout.columnCount ? `expected ${layout.columnCount} fields, found ${fields}` : this.reason);
    let key = this.key;
    let keyId = -1;
    const textKeys = this.textKeys;
    if (textKeys !== undefined) {
      if (this.keyStart >= 0) {
        // the fast path (so no other reason): the key as bytes, a string only for a reject
        const len = this.keyEnd - this.keyStart;
        if (len === 0) {
          reason = `empty key column "${layout.names[layout.keyIndex]}"`;
          key = '';
        } else if (this.uuidKeys && !isCanonicalUuid(buf, this.keyStart, this.keyEnd)) {
          // upper case, braces, no hyphens: the same UUID, kept in its canonical text; or not a UUID
          key = buf.toString('latin1', this.keyStart, this.keyEnd);
          const canonical = canonicalUuid(key);
          if (canonical === undefined) reason = notUuidReason(key);
          else if ((keyId = textKeys.addString(canonical)) < 0) reason = `duplicate key "${(key = canonical)}" (already seen in this run)`; // as the table would hold it
        } else if (len > this.maxKeyBytes || (keyId = textKeys.addBytes(buf, this.keyStart, this.keyEnd)) < 0) {
          key = buf.toString('latin1', this.keyStart, this.keyEnd);
          reason = len > this.maxKeyBytes ? `key is ${len} bytes; the limit is ${this.maxKeyBytes}` : `duplicate key "${key}" (already seen in this run)`;
        }
      } else if (reason === null) {
        if (key === null || key === '') reason = `empty key column "${layout.names[layout.keyIndex]}"`;
        else if (this.uuidKeys) {
          const canonical = canonicalUuid(String(key));
          if (canonical === undefined) reason = notUuidReason(String(key));
          else if ((keyId = textKeys.addString(canonical)) < 0) reason = `duplicate key "${(key = canonical)}" (already seen in this run)`;
        } else if ((reason = keyLengthProblem(String(key), this.maxKeyBytes)) === null && (keyId = textKeys.addString(String(key))) < 0) reason = `duplicate key "${key}" (already seen in this run)`;
      }
    } else if (reason === null) {
      if (typeof key === 'string') {
        if (key === '') reason = `empty key column "${layout.names[layout.keyIndex]}"`;
        else if (this.opts.keyType === 'bigint') {
          const k = parseBigintKey(key);
          if (k === undefined) reason = `key "${preview(key)}" is not a 64-bit integer (key_type: bigint)`;
          else key = k;
        } else reason = keyLengthProblem(key, this.maxKeyBytes);
      } else if (key === null) reason = `empty key column "${layout.names[layout.keyIndex]}"`;
      if (reason === null && this.typed) reason = this.typedPassthrough(r);
      if (reason === null && !(this.opts.seenKeys as SeenKeys).add(key!)) reason = `duplicate key "${key}" (already seen in this run)`;
    }
    if (reason !== null) {
      // Postgres text can't hold NUL (the header's names and a field's text end up in reasons).
      const reject: Reject = { line, key: key === '' || key === null ? null : printable(preview(String(key), 200)), reason: printable(reason), raw: buf.toString('utf8', start, contentEnd) };
      batch.rejects.push(reject);
    } else {
      if (textKeys !== undefined) batch.keyIds![r] = keyId;
      else batch.keys[r] = key!;
      batch.lines![r] = line;
      batch.n = r + 1;
    }
    return next;
  }

  /** Each typed passthrough value of row r as its binary COPY bytes (or NULL); the reason when one is not a value of its type. */
  private typedPassthrough(r: number): string | null {
    const { passthroughParsers, names, passthroughSlot } = this.layout;
    for (let p = 0; p < passthroughParsers.length; p++) {
      const parse = passthroughParsers[p];
      const column = this.batch.passthrough[p];
      const text = column[r];
      if (parse === undefined || typeof text !== 'string') continue;
      const v = parse(text);
      if (typeof v === 'string') return `value "${preview(text)}" in column "${names[passthroughSlot.indexOf(p)]}" (${this.typeNames[p]}) ${v}`;
      column[r] = v;
    }
    return null;
  }

  /** Strings for the key and passthrough fields the fast path found; false sends the record to the general path. */
  private fastText(buf: Buffer, r: number): boolean {
    const { layout } = this;
    const plan = this.fast!;
    for (let fi = 0; fi < layout.columnCount; fi++) {
      if (plan.role[fi] !== FastRole.Text) continue;
      const pt = layout.passthroughSlot[fi];
      if (fi === layout.keyIndex && this.textKeys !== undefined && pt < 0) {
        // The usual text key (ASCII, no NUL) stays bytes: no string, no UTF-8 check.
        const ks = plan.textStart[fi];
        const ke = plan.textEnd[fi];
        let i = ks;
        while (i < ke && buf[i] !== 0 && buf[i] < 128) i++;
        if (i === ke) {
          this.keyStart = ks;
          this.keyEnd = ke;
          continue;
        }
      }
      const s = buf.toString('utf8', plan.textStart[fi], plan.textEnd[fi]);
      if (s.includes('\uFFFD') || s.includes('\0')) return false; // let the general path say why
      if (fi === layout.keyIndex) this.key = s;
      if (pt >= 0) this.batch.passthrough[pt][r] = s;
    }
    return true;
  }

  private field(fi: number, buf: Buffer, fs: number, fe: number, escaped: boolean, r: number): void {
    const { layout } = this;
    const slots = layout.featureSlots[fi];
    if (slots.length > 0) {
      let v = escaped ? Number.NaN : parseNumber(buf, fs, fe);
      if (escaped) {
        const t = this.text(buf, fs, fe, true).trim();
        if (decimalText.test(t)) v = Number(t);
      }
      if (fe === fs || Number.isNaN(v) || !Number.isFinite(Math.fround(v))) {
        this.reason = badNumberReason(this.text(buf, fs, fe, escaped), layout.names[fi]);
        return;
      }
      for (let k = 0; k < slots.length; k++) {
        const [ii, pos] = slots[k];
        this.batch.features[ii][r * layout.inputWidths[ii] + pos] = v;
      }
    }
    const pt = layout.passthroughSlot[fi];
    if (fi === layout.keyIndex || pt >= 0) {
      const s = this.text(buf, fs, fe, escaped);
      if (s.includes('\uFFFD') && !isUtf8(buf.subarray(fs, fe))) {
        this.reason = `invalid UTF-8 in column "${layout.names[fi]}"`;
        return;
      }
      if (s.includes('\0')) {
        this.reason = `NUL byte in column "${layout.names[fi]}"`;
        return;
      }
      if (fi === layout.keyIndex) this.key = s;
      if (pt >= 0) this.batch.passthrough[pt][r] = s;
    }
  }

  private text(buf: Buffer, fs: number, fe: number, escaped: boolean): string {
    const s = buf.toString('utf8', fs, fe);
    return escaped ? s.replaceAll('""', '"') : s;
  }
}

/** Text Postgres can store: NUL shown as ␀. */
function printable(s: string): string {
  return s.includes('\0') ? s.replaceAll('\0', '\u2400') : s;
}

/** At most n characters of s, for messages. */
function preview(s: string, n = 40): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
}

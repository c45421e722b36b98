const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/** scan() could not decide: the record goes on past the bytes given (and is still shorter than the limit). */
export const NEED_MORE = -1;
/** scan(): the record is broken and is the physical line it starts on, which goes on past the bytes given. */
export const SKIP_TO_LF = -2;

/** Why a record is broken (`RecordBounds.broken`). */
export const enum Broken {
  No = 0,
  /** a quoted field still open at the end of the file or the limit, or a multi-line one closed by a stray quote */
  Quote = 1,
  /** longer than the limit */
  Long = 2,
}

/**
 * Where CSV records end: the one rule the planner (chunk boundaries, row counts) and the reader share,
 * so both always agree. A record starts at a line start and ends at the first line break outside
 * quotes (RFC 4180; a quote opens a quoted field only at a field's start) or at the end of the file.
 * A record is broken when
 * - a quoted field is still open at the end of the file,
 * - a quoted field that spans lines closes on a quote followed by anything but `,`, CR, LF or the end
 *   (a stray quote that paired with another one lines later), or
 * - it is longer than maxBytes (line break included);
 * a broken record ends at the end of the physical line it starts on (that line is one reject) and the
 * next record starts on the next line. So a stray quote costs one line, never the rest of the file,
 * and no scan looks further than maxBytes past a record's start.
 */
export class RecordBounds {
  /** after scan(): the record's end (exclusive, after its line break) */
  next = 0;
  /** after scan(): the end of its content (line break excluded) */
  contentEnd = 0;
  /** after scan(): physical lines the record spans */
  lines = 1;
  /** after scan(): why the record is broken */
  broken: Broken = Broken.No;
  /** after a Broken.Quote scan: where the quote that stayed open is */
  openQuote = -1;

  // The next quote at or after quoteFrom (-1: none before the limit): files without quotes need one
  // indexOf per buffer, not one per record. Valid until forget().
  private quoteFrom = -1;
  private quoteAt = -1;

  constructor(readonly maxBytes: number) {}

  /** The buffer's bytes changed (a refill): drop what was cached about them. */
  forget(): void {
    this.quoteFrom = -1;
  }

  private nextQuote(buf: Uint8Array, from: number, limit: number): number {
    if (this.quoteFrom < 0 || from < this.quoteFrom || (this.quoteAt >= 0 && from > this.quoteAt)) {
      this.quoteFrom = from;
      const q = buf.indexOf(QUOTE, from);
      this.quoteAt = q >= 0 && q < limit ? q : -1;
    }
    return this.quoteAt;
  }

  /**
   * The record starting at s, in buf[s, limit). `final`: limit is the end of the file (or of a chunk,
   * which ends on a record boundary). Returns the record's end (also in `next`), NEED_MORE, or
   * SKIP_TO_LF (broken; its line goes on past limit: the caller skips to the next line break).
   */
  scan(buf: Uint8Array, s: number, limit: number, final: boolean): number {
    const hard = s + this.maxBytes;
    this.broken = Broken.No;
    this.lines = 1;
    let firstLf = -1;
    let p = s;
    // the first line break at or after p (-1: none before limit)
    let nl = buf.indexOf(LF, s);
    if (nl >= limit) nl = -1;
    for (;;) {
      // Outside quotes: the line break ends the record unless a field-start quote comes first.
      const end = nl < 0 ? limit : nl;
      let q = this.nextQuote(buf, p, limit);
      while (q >= 0 && q < end && q !== s && buf[q - 1] !== COMMA) q = this.nextQuote(buf, q + 1, limit);
      if (q < 0 || q >= end) {
        if (nl >= 0) return this.ends(buf, s, nl + 1, firstLf < 0 ? nl : firstLf, limit, final);
        if (final) return this.ends(buf, s, limit, firstLf, limit, final);
        return limit >= hard ? this.brokenAt(Broken.Long, -1, buf, s, firstLf, limit, final) : NEED_MORE;
      }
      // A quoted field: find its closing quote (a doubled quote is a literal one).
      const open = q;
      if (open >= hard) return this.brokenAt(Broken.Long, -1, buf, s, firstLf, limit, final);
      const linesBefore = this.lines;
      const stop = Math.min(limit, hard);
      let at = open + 1;
      for (;;) {
        let c = this.nextQuote(buf, at, limit);
        if (c >= stop) c = -1;
        for (const to = c < 0 ? stop : c; nl >= 0 && nl < to; ) {
          if (firstLf < 0) firstLf = nl;
          this.lines++;
          nl = buf.indexOf(LF, nl + 1);
          if (nl >= limit) nl = -1;
        }
        if (c < 0) return hard <= limit || final ? this.brokenAt(Broken.Quote, open, buf, s, firstLf, limit, final) : NEED_MORE;
        if (c + 1 >= limit) {
          // the last byte given: the file's end closes the field; otherwise the next byte decides
          if (final) return this.ends(buf, s, limit, firstLf, limit, final);
          return c + 1 >= hard ? this.brokenAt(Broken.Long, -1, buf, s, firstLf, limit, final) : NEED_MORE;
        }
        if (buf[c + 1] === QUOTE) {
          at = c + 2;
          continue;
        }
        p = c + 1;
        break;
      }
      const after = buf[p];
      if (this.lines > linesBefore && after !== COMMA && after !== LF && after !== CR) return this.brokenAt(Broken.Quote, open, buf, s, firstLf, limit, final);
    }
  }

  /** A record that ends at next (the limit applies to it whole). */
  private ends(buf: Uint8Array, s: number, next: number, firstLf: number, limit: number, final: boolean): number {
    if (next - s > this.maxBytes) return this.brokenAt(Broken.Long, -1, buf, s, firstLf, limit, final);
    this.next = next;
    this.contentEnd = contentEnd(buf, s, next);
    return next;
  }

  /** A broken record: the physical line it starts on. */
  private brokenAt(why: Broken, openQuote: number, buf: Uint8Array, s: number, firstLf: number, limit: number, final: boolean): number {
    this.broken = why;
    this.openQuote = openQuote;
    this.lines = 1;
    if (firstLf < 0) {
      firstLf = buf.indexOf(LF, s);
      if (firstLf >= limit) firstLf = -1;
    }
    if (firstLf >= 0) this.next = firstLf + 1;
    else if (final) this.next = limit;
    else {
      this.next = this.contentEnd = limit;
      return SKIP_TO_LF;
    }
    this.contentEnd = contentEnd(buf, s, this.next);
    return this.next;
  }
}

/** A record's content end: its line break (LF or CRLF) dropped. */
function contentEnd(buf: Uint8Array, s: number, next: number): number {
  if (next > s && buf[next - 1] === LF) return next - 1 > s && buf[next - 2] === CR ? next - 2 : next - 1;
  return next;
}

/** Which field (0-based) of the record starting at s the byte at `at` is in (for messages about a broken record). */
export function fieldAt(buf: Uint8Array, s: number, at: number): number {
  let field = 0;
  let inQuote = false;
  for (let i = s; i < at; i++) {
    const c = buf[i];
    if (c === QUOTE) {
      if (!inQuote) inQuote = i === s || buf[i - 1] === COMMA;
      else if (i + 1 < at && buf[i + 1] === QUOTE) i++;
      else inQuote = false;
    } else if (c === COMMA && !inQuote) field++;
  }
  return field;
}

/** The text of field `field` of the record starting at s when that field ends before `before`, else null (a broken record's key). */
export function fieldText(buf: Buffer, s: number, field: number, before: number): string | null {
  let p = s;
  for (let f = 0; p < before; f++) {
    let text: string;
    if (buf[p] === QUOTE) {
      let q = p + 1;
      for (;;) {
        q = buf.indexOf(QUOTE, q);
        if (q < 0 || q >= before) return null;
        if (q + 1 >= before || buf[q + 1] !== QUOTE) break;
        q += 2;
      }
      text = buf.toString('utf8', p + 1, q).replaceAll('""', '"');
      p = buf.indexOf(COMMA, q);
    } else {
      const e = buf.indexOf(COMMA, p);
      text = buf.toString('utf8', p, e < 0 ? before : Math.min(e, before));
      p = e;
    }
    if (p < 0 || p >= before) return null;
    if (f === field) return text;
    p++;
  }
  return null;
}

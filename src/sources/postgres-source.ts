import { SeenKeys, parseBigintKey, type Key } from './keys.js';
import { TextKeySet } from './text-keys.js';
import { canonicalUuid, isCanonicalUuid, notUuidReason } from './uuid-keys.js';
import type pg from 'pg';
import { copyOut } from './copy-out.js';
import { FinalError, UsageError, SourceError, errorMessage, sqlState } from '../errors.js';
import { defaults } from '../defaults.js';
import { describeServer } from '../db/connect.js';
import type { JobSpec } from '../spec/job-spec.js';
import { templateVars, type DataInterval } from '../spec/template.js';
import { badNumberReason, parseNumber } from './parse-number.js';
import { bindTemplate, findSemicolon, ident, isMultiStatement, isQueryFault, oneLine, settingsStatement, subqueryBody } from './postgres-query.js';
import { SourceConnections } from './postgres-connections.js';
import { BinaryCopyReader } from './copy-binary-reader.js';
import type { ChunkRange, PlanOptions, ReadOptions, Reject, RowBatch, Source } from './source.js';

/** A key range of the query's rows: lo <= key < hi (open ends are null); `nulls` is the chunk of rows with a NULL key. */
export interface PgChunkRange {
  lo: string | null;
  hi: string | null;
  nulls?: boolean;
}

const integerKeyTypes = new Set(['bigint', 'integer', 'smallint']);
const maxKeyBytes = defaults.maxKeyBytes;
const noop = () => undefined;
const numericTypes = new Set(['real', 'double precision', 'smallint', 'integer', 'bigint', 'numeric', 'boolean']);

/** Where each feature field of a COPY row goes, as arrays the per-row loop reads cheaply. */
interface FeaturePlan {
  columns: string[];
  input: Int32Array;
  pos: Int32Array;
  /** 1: cast to float4 by the query; 0: text, parsed here */
  numeric: Uint8Array;
  widths: Int32Array;
  /** key, features, passthrough: the names of a reject's raw fields */
  rawNames: string[];
  /** the key column arrives as binary int8 */
  intKey: boolean;
  /** keys are bigint Keys (numbers up to 15 digits), else text */
  bigintKeys: boolean;
  /** key_type: uuid: keys checked and kept canonical */
  uuidKeys: boolean;
  /** per passthrough column: 1 when it arrives in its type's binary form (kept as bytes), 0 as text */
  binaryPassthrough: Uint8Array;
}

interface Column {
  name: string;
  /** format_type(oid, NULL): what the key's range casts name */
  type: string;
  /** the result table's type for this column as a passthrough: its full type (format_type with typmod) when its binary form can be forwarded, else text */
  resultType: string;
}

/** Type categories whose binary COPY form is the same in any database (base, range, multirange types of pg_catalog). */
const forwardableKinds = new Set(['b', 'r', 'm']);

/**
 * Rows from a SQL query. Chunks are key ranges found in one ordered pass over the keys (never
 * OFFSET), so each chunk is an independent query. Rows come out with
 * COPY (FORMAT binary); numeric features arrive as float4 bytes and go straight into the tensor.
 *
 * The query is the user's text, spliced into COPY statements (COPY takes no parameters and runs on
 * the simple protocol, which would run a second statement): before any COPY, describe() sends the
 * query wrapped as a subquery through the extended protocol, which refuses more than one statement.
 * Everything runs in READ ONLY transactions the one statement cannot end.
 *
 * Safe to share: plans and reads may run concurrently, each on its own connection (see
 * SourceConnections). Snapshots: exportSnapshot() below, ReadOptions.snapshot.
 */
export class PostgresSource implements Source {
  private readonly conns: SourceConnections;
  private described?: Promise<Map<string, Column>>;
  private readonly sql: string;
  private readonly where: string;
  /** the spec key a connection failure names */
  private readonly urlWhere: string;
  private readonly server: string;

  constructor(
    private readonly spec: JobSpec,
    private readonly opts: { url: string; logicalDate: string; interval?: DataInterval },
  ) {
    if (spec.source.kind !== 'postgres') throw new Error('not a postgres source');
    this.where = `${spec.specLabel}: source.postgres.query`;
    this.urlWhere = `${spec.specLabel}: ${spec.source.url ? 'source.postgres.url' : 'source.postgres (the results database)'}`;
    this.sql = subqueryBody(bindTemplate(spec.source.query, this.where).sql);
    this.server = describeServer(opts.url);
    this.conns = new SourceConnections(opts.url);
  }

  /**
   * Export a snapshot of the source database and hold it until close(): plan() on this source, and
   * reads given its id (ReadOptions.snapshot, on any source of the same database, in any process)
   * see the rows exactly as they were at this moment, so chunks neither miss nor repeat rows of a
   * table written meanwhile. Holds one connection idle in a REPEATABLE READ transaction (which also
   * holds back VACUUM on that database) for as long as the source is open. Calling it again returns
   * the same id. A reader whose exporter is gone reads without it (see SourceConnections.begin).
   */
  async exportSnapshot(): Promise<string> {
    try {
      return await this.conns.exportSnapshot();
    } catch (err) {
      throw this.failure(err);
    }
  }

  private async acquire(): Promise<pg.Client> {
    try {
      return await this.conns.acquire();
    } catch (err) {
      throw this.connectFailure(err);
    }
  }

  /** BEGIN READ ONLY (in the snapshot, when given) and bind the template variables for this transaction. */
  private async begin(c: pg.Client, snapshot: string | undefined, doing: string, extra: Record<string, string | null>): Promise<void> {
    await this.conns.begin(c, snapshot);
    const s = settingsStatement(templateVars(this.opts.logicalDate, this.opts.interval), extra, `batchinfer source ${doing}`);
    await c.query(s.text, s.values);
  }

  /** A connection that could not be made: one line naming the spec key and host:port, never the password. */
  private connectFailure(err: unknown): Error {
    let message = oneLine(errorMessage(err));
    try {
      // pg's messages carry no password; this only guards against one that someday would (short ones would mangle the text)
      const password = decodeURIComponent(new URL(this.opts.url).password);
      if (password.length >= 4) message = message.split(password).join('***');
    } catch {
      // an unparseable URL has no password to hide from pg's messages
    }
    message = `${this.urlWhere}: ${message}`;
    const code = (err as { code?: unknown }).code;
    // Wrong credentials, database or host name, or a malformed URL: the user's to fix. Else (refused, timed out) retry may help.
    if (/^(28|3D)/.test(sqlState(err) ?? '') || code === 'ENOTFOUND' || code === 'ERR_INVALID_URL') return new UsageError(message);
    return Object.assign(new Error(message, { cause: err }), { code });
  }

  /**
   * A failure of the source's work classed by its cause: bad SQL is the user's to fix wherever it
   * surfaces (UsageError naming the spec key), a data error in the query fails for good (FinalError); a lost
   * connection, a cancel, a serialization failure is transient (the chunk is retried), named with the server.
   */
  private failure(err: unknown, signal?: AbortSignal): Error {
    if (signal?.aborted) return (signal.reason as Error) ?? err;
    if (err instanceof UsageError || err instanceof SourceError || err instanceof FinalError) return err;
    if (isMultiStatement(err)) return new UsageError(`${this.where}: must be one SELECT statement`);
    const state = sqlState(err);
    const message = oneLine(errorMessage(err));
    // Bad SQL is the spec's to fix (exit 2); a data error met while reading rows (division by zero in
    // some row) fails the chunk at once, and the run, like any failed run (exit 1).
    if (state && (/^(42|3F|0A)/.test(state) || state === '25006')) return new UsageError(`${this.where}: ${message}`);
    if (state && isQueryFault(state)) return new FinalError(`${this.where}: ${message}`);
    const e = new Error(`${this.where} (PostgreSQL at ${this.server}): ${message}`, { cause: err });
    const code = (err as { code?: unknown }).code;
    return code === undefined ? e : Object.assign(e, { code });
  }

  /**
   * Column names and SQL types of the query's result, via a LIMIT 0 probe. The probe goes through the
   * extended protocol, which parses the whole text as one statement or refuses it: so the query holds
   * no `;` token outside strings and comments, ends outside any string or comment (the probe's tail
   * would be swallowed), and so every statement that wraps it the same way (subqueryBody) is one
   * statement too. Checked once per source, before any COPY.
   */
  private describe(): Promise<Map<string, Column>> {
    if (!this.described) {
      const describing = this.probe();
      this.described = describing;
      describing.catch(() => {
        if (this.described === describing) this.described = undefined;
      });
    }
    return this.described;
  }

  private async probe(): Promise<Map<string, Column>> {
    const c = await this.acquire();
    let clean = false;
    try {
      await this.begin(c, undefined, 'check', {});
      const { fields } = await c.query({ text: `SELECT * FROM (${this.sql}) q LIMIT 0`, queryMode: 'extended' } as pg.QueryConfig);
      // A passthrough keeps the column's type when the results database surely has it too (built in);
      // an enum, domain or extension type of the source arrives as text.
      const types = await c.query<{ i: number; name: string; full: string; kind: string; builtin: boolean }>(
        `SELECT f.i::int, format_type(f.o, NULL) AS name, format_type(f.o, f.m) AS full, t.typtype AS kind, t.typnamespace = 'pg_catalog'::regnamespace AS builtin
           FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY f(o, m, i) JOIN pg_type t ON t.oid = f.o`,
        [fields.map((f) => f.dataTypeID), fields.map((f) => f.dataTypeModifier)],
      );
      await c.query('COMMIT');
      clean = true;
      const byPosition = new Map(types.rows.map((r) => [r.i - 1, r]));
      return new Map(
        fields.map((f, i) => {
          const t = byPosition.get(i);
          // bit without a length would be bit(1) in a CREATE TABLE: its values would not fit.
          const forward = t !== undefined && t.builtin && forwardableKinds.has(t.kind) && t.name !== 'unknown' && t.full !== '"bit"';
          return [f.name, { name: f.name, type: t?.name ?? 'unknown', resultType: forward ? t.full : 'text' }];
        }),
      );
    } catch (err) {
      // A ";" the wrapper's parenthesis makes a syntax error (or an unclosed comment after it) is a second statement all the same.
      if (sqlState(err) === '42601' && findSemicolon(this.sql) >= 0) throw new UsageError(`${this.where}: must be one SELECT statement`);
      throw this.failure(err);
    } finally {
      await this.conns.release(c, clean);
    }
  }

  async check(): Promise<void> {
    const cols = await this.describe();
    const missing: string[] = [];
    const names = [...cols.keys()].join(', ');
    const need = (column: string, path: string) => {
      if (!cols.has(column)) missing.push(`${this.spec.specLabel}: ${path}: column "${column}" is not in the query's result (its columns: ${names})`);
    };
    need(this.spec.key, 'key');
    this.spec.inputs.forEach((i) => i.columns.forEach((c, pos) => need(c, `inputs.${i.name}[${pos}]`)));
    this.spec.passthrough.forEach((c, i) => need(c, `passthrough[${i}]`));
    if (missing.length) throw new UsageError(missing.join('\n'));
    const keyColumnType = cols.get(this.spec.key)!.type;
    if (this.spec.keyType === 'uuid' && keyColumnType !== 'uuid' && keyColumnType !== 'text' && keyColumnType !== 'character varying')
      throw new UsageError(`${this.spec.specLabel}: key_type: uuid: the query's key column "${this.spec.key}" is ${keyColumnType}; uuid keys come from a uuid or text column (or drop key_type)`);
  }

  async passthroughTypes(): Promise<string[]> {
    const cols = await this.describe();
    return this.spec.passthrough.map((c) => cols.get(c)?.resultType ?? 'text');
  }

  async fingerprint(): Promise<string> {
    return `postgres:${new URL(this.opts.url).host}${new URL(this.opts.url).pathname}:${this.spec.source.kind === 'postgres' ? this.spec.source.query : ''}`;
  }

  /**
   * One pass over the query's keys in order (an index-only scan when the query allows, streamed with
   * binary COPY): a chunk closes every chunk_rows rows, at the next key change, so equal keys share a
   * chunk. Chunks go to onChunks as they close, so scoring starts while the pass goes on; rows with a
   * NULL key (they sort last) are one more chunk, whose rows are rejects.
   */
  async plan(opts: PlanOptions = {}): Promise<ChunkRange[]> {
    await this.check();
    const cols = await this.describe();
    const keyType = cols.get(this.spec.key)!.type;
    const intKey = integerKeyTypes.has(keyType);
    const chunkRows = this.spec.chunkRows;
    const chunks: ChunkRange[] = [];
    let handed = 0;
    let lo: string | null = null; // first key of the open chunk
    let rows = 0; // rows in the open chunk
    let prev: Key | undefined;
    let nulls = 0;
    const reader = new BinaryCopyReader(1);
    let snapshot: string | undefined;
    try {
      snapshot = await this.conns.heldSnapshot();
    } catch (err) {
      throw this.failure(err);
    }
    const c = await this.acquire();
    let finished = false;
    let longest: number | undefined;
    /** the hint for a chunk whose first key is `first` */
    const scoreLast = (first: string | null) => (longest !== undefined && first !== null && first.replace('-', '').length < longest ? { scoreLast: true } : {});
    // Stopped while the server is still sorting (no rows arrive to check the signal on): drop the connection.
    const onAbort = () => void c.end().catch(noop);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.begin(c, snapshot, 'plan', {});
      // Integer ids read into text keys: the chunks whose first id has fewer digits than the last one go
      // into the result table's B-tree among every later chunk's ids ("10000" < "100001" < "10001" in
      // bytes), so they are marked to be scored last (ChunkRange.scoreLast; docs/performance.md, "Ids as
      // text keys"). Compared with an id near the largest, when the server finds one at once (an index on the key); else no hint.
      longest = intKey && this.spec.keyType === 'text' ? await this.largestKeyDigits(c) : undefined;
      const stream = c.query(copyOut(`COPY (SELECT k${intKey ? '::int8' : '::text'} FROM (SELECT ${ident(this.spec.key)} AS k FROM (${this.sql}) q) s ORDER BY s.k) TO STDOUT (FORMAT binary)`));
      stream.on('error', noop); // reported through the loop below; this one catches an error after the loop has left
      for await (const data of stream as AsyncIterable<Buffer>) {
        opts.signal?.throwIfAborted();
        reader.push(data);
        while (reader.next()) {
          const at = reader.starts[0];
          const len = reader.lengths[0];
          if (len < 0) {
            nulls++;
            continue;
          }
          const key = intKey ? reader.int8Key(at) : reader.buf.toString('utf8', at, at + len);
          if (rows >= chunkRows && key !== prev) {
            const text = String(key);
            chunks.push({ chunk: chunks.length, range: { lo: chunks.length === 0 ? null : lo, hi: text, keyType }, plannedRows: rows, ...scoreLast(lo) });
            lo = text;
            rows = 0;
          } else if (rows === 0 && chunks.length === 0) lo = String(key);
          rows++;
          prev = key;
        }
        if (opts.onChunks && chunks.length > handed) opts.onChunks(chunks.slice(handed, (handed = chunks.length)));
      }
      await c.query('COMMIT');
      finished = true;
    } catch (err) {
      throw this.failure(err, opts.signal);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      // Stopped inside the COPY: the connection is dropped (a ROLLBACK would queue behind the COPY).
      await this.conns.release(c, finished);
    }
    if (rows > 0) chunks.push({ chunk: chunks.length, range: { lo: chunks.length === 0 ? null : lo, hi: null, keyType }, plannedRows: rows, ...scoreLast(lo) });
    if (nulls > 0) chunks.push({ chunk: chunks.length, range: { lo: null, hi: null, nulls: true, keyType }, plannedRows: nulls });
    if (opts.onChunks && chunks.length > handed) opts.onChunks(chunks.slice(handed));
    return chunks;
  }

  /**
   * Digits of a key near the top of the query's keys (1,000 from the largest), when the server answers
   * within defaults.planHintMs (an indexed key is read backwards; a query without an index would be a
   * second pass and a sort: no hint then).
   * Inside the plan's transaction (its snapshot), behind a savepoint a timeout rolls back to.
   */
  private async largestKeyDigits(c: pg.Client): Promise<number | undefined> {
    const { rows: [was] } = await c.query<{ t: string }>(`SELECT current_setting('statement_timeout') AS t`);
    await c.query('SAVEPOINT batchinfer_hint');
    try {
      await c.query(`SET LOCAL statement_timeout = ${defaults.planHintMs}`);
      // a key near the end (not the very largest: ids 1..1,000,000 end in the only 7-digit one), as a CSV's tail
      const { rows } = await c.query<{ k: string | null }>(`SELECT s.k::text AS k FROM (SELECT ${ident(this.spec.key)} AS k FROM (${this.sql}) q) s WHERE s.k IS NOT NULL ORDER BY s.k DESC OFFSET 1000 LIMIT 1`);
      await c.query('RELEASE SAVEPOINT batchinfer_hint');
      return rows[0]?.k == null ? undefined : rows[0].k.replace('-', '').length;
    } catch {
      await c.query('ROLLBACK TO SAVEPOINT batchinfer_hint');
      return undefined;
    } finally {
      await c.query(`SELECT set_config('statement_timeout', $1, true)`, [was.t]); // the plan's own COPY is not limited by it
    }
  }

  async *read(chunk: ChunkRange, opts: ReadOptions = {}): AsyncIterable<RowBatch> {
    const { signal } = opts;
    const cols = await this.describe();
    const spec = this.spec;
    const range = chunk.range as unknown as PgChunkRange;
    const key = ident(spec.key);
    // The key's type as the server names it now (format_type quotes what needs it), never text read back from the ledger.
    const keyType = cols.get(spec.key)!.type;
    const features = spec.inputs.flatMap((input, ii) => input.columns.map((c, pos) => ({ column: c, ii, pos, numeric: numericTypes.has(cols.get(c)!.type) })));
    const select = [
      // Integer keys travel as binary int8 (no int8out in the server, no UTF-8 decode here).
      integerKeyTypes.has(cols.get(spec.key)!.type) ? `${key}::int8` : `${key}::text`,
      ...features.map((f) => (f.numeric ? `${ident(f.column)}::float4` : `${ident(f.column)}::text`)),
      // Typed passthrough columns travel in their own binary form, straight into the result table's COPY.
      ...spec.passthrough.map((c) => (binaryPassthrough(cols.get(c)!) ? ident(c) : `${ident(c)}::text`)),
    ];
    const conds = range.nulls
      ? [`${key} IS NULL`]
      : [
          range.lo !== null ? `${key} >= current_setting('batchinfer.lo')::${keyType}` : null,
          range.hi !== null ? `${key} < current_setting('batchinfer.hi')::${keyType}` : null,
          `${key} IS NOT NULL`,
        ].filter(Boolean);
    const copySql = `COPY (SELECT ${select.join(', ')} FROM (${this.sql}) q WHERE ${conds.join(' AND ')}) TO STDOUT (FORMAT binary)`;
    const widths = spec.inputs.map((i) => i.columns.length);
    const batchSize = spec.batchSize;
    const batch: RowBatch = {
      n: 0,
      features: widths.map((w) => new Float32Array(batchSize * w)),
      keys: new Array<Key>(batchSize),
      passthrough: spec.passthrough.map(() => new Array<string | Buffer | null>(batchSize)),
      rejects: [],
      lines: null,
    };
    // Text keys stay bytes (no string, no Set entry per row); bigint keys are numbers in a SeenKeys.
    if (spec.keyType !== 'bigint') {
      batch.textKeys = new TextKeySet(opts.takenKeys);
      batch.keyIds = new Int32Array(batchSize);
    }
    const reader = new BinaryCopyReader(select.length);
    features.forEach((f, i) => (reader.floatFields[i + 1] = f.numeric ? 1 : 0));
    const plan: FeaturePlan = {
      columns: features.map((f) => f.column),
      input: Int32Array.from(features, (f) => f.ii),
      pos: Int32Array.from(features, (f) => f.pos),
      numeric: Uint8Array.from(features, (f) => (f.numeric ? 1 : 0)),
      widths: Int32Array.from(widths),
      rawNames: [spec.key, ...features.map((f) => f.column), ...spec.passthrough],
      intKey: integerKeyTypes.has(cols.get(spec.key)!.type),
      bigintKeys: spec.keyType === 'bigint',
      uuidKeys: spec.keyType === 'uuid',
      binaryPassthrough: Uint8Array.from(spec.passthrough, (c) => (binaryPassthrough(cols.get(c)!) ? 1 : 0)),
    };
    const seen = batch.textKeys ?? new SeenKeys(opts.takenKeys);
    let snapshot = opts.snapshot;
    const c = await this.acquire();
    let finished = false;
    let longest: number | undefined;
    /** the hint for a chunk whose first key is `first` */
    const scoreLast = (first: string | null) => (longest !== undefined && first !== null && first.replace('-', '').length < longest ? { scoreLast: true } : {});
    try {
      snapshot ??= await this.conns.heldSnapshot();
      await this.begin(c, snapshot, 'read', { lo: range.lo, hi: range.hi });
      const stream = c.query(copyOut(copySql));
      stream.on('error', noop); // reported through the loop below; this one catches an error after the consumer has left
      for await (const data of stream as AsyncIterable<Buffer>) {
        signal?.throwIfAborted();
        reader.push(data);
        while (reader.next()) {
          this.decodeRow(reader, batch, plan, seen);
          if (batch.n >= batchSize || batch.rejects.length >= batchSize) {
            yield batch;
            batch.n = 0;
            batch.rejects = [];
          }
        }
      }
      if (batch.n > 0 || batch.rejects.length > 0) yield batch;
      await c.query('COMMIT');
      finished = true;
    } catch (err) {
      throw this.failure(err, signal);
    } finally {
      // Stopped early (an error, or the consumer gave up): the connection may still be inside the
      // COPY, where a ROLLBACK would queue behind it forever. It is dropped instead, not pooled.
      await this.conns.release(c, finished);
    }
  }

  private decodeRow(reader: BinaryCopyReader, batch: RowBatch, plan: FeaturePlan, seen: SeenKeys | TextKeySet): void {
    const { buf, view, starts, lengths } = reader;
    const r = batch.n;
    const keyLen = lengths[0];
    let key: Key | null = null;
    let reason: string | null = null;
    /** a text column's key left as bytes at buf[starts[0], +keyLen) */
    let keyBytes = false;
    if (keyLen >= 0) {
      // An integer column: a number up to 15 digits (text keys get its digits without a string), text beyond.
      if (plan.intKey) key = reader.int8Key(starts[0]);
      else if (!plan.bigintKeys) {
        keyBytes = keyLen > 0;
        // The result table's key index takes at most ~2.7 KB: a longer key would fail the whole chunk's COPY.
        if (keyLen > maxKeyBytes) reason = `key is ${keyLen} bytes; the limit is ${maxKeyBytes}`;
        else if (keyLen === 0) key = '';
      } else {
        const text = buf.toString('utf8', starts[0], starts[0] + keyLen);
        key = text;
        // The result table's key index takes at most ~2.7 KB: a longer key would fail the whole chunk's COPY.
        if (keyLen > maxKeyBytes) reason = `key is ${keyLen} bytes; the limit is ${maxKeyBytes}`;
        else if (plan.bigintKeys && text !== '') {
          const k = parseBigintKey(text);
          if (k === undefined) reason = `key "${text}" is not a 64-bit integer (key_type: bigint)`;
          else key = k;
        }
      }
    }
    if ((key === null && !keyBytes) || key === '') reason = `empty key column "${this.spec.key}"`;
    const nf = plan.columns.length;
    for (let f = 0; f < nf && reason === null; f++) {
      const i = f + 1;
      const len = lengths[i];
      if (len < 0) {
        reason = `missing value (NULL) in column "${plan.columns[f]}"`;
        break;
      }
      let v: number;
      if (plan.numeric[f] === 1) {
        v = view.getFloat32(starts[i]); // cast to float4 by the query
        if (v - v !== 0) {
          reason = `non-finite value ${v} in column "${plan.columns[f]}"`;
          break;
        }
      } else {
        v = parseNumber(buf, starts[i], starts[i] + len);
        if (!Number.isFinite(v) || !Number.isFinite(Math.fround(v))) {
          reason = badNumberReason(buf.toString('utf8', starts[i], starts[i] + len), plan.columns[f]);
          break;
        }
      }
      const ii = plan.input[f];
      batch.features[ii][r * plan.widths[ii] + plan.pos[f]] = v;
    }
    const pt = batch.passthrough;
    for (let p = 0; p < pt.length; p++) {
      const i = 1 + nf + p;
      if (lengths[i] < 0) pt[p][r] = null;
      else if (plan.binaryPassthrough[p] === 1) pt[p][r] = Buffer.from(buf.subarray(starts[i], starts[i] + lengths[i])); // the reader's buffer is reused
      else pt[p][r] = buf.toString('utf8', starts[i], starts[i] + lengths[i]);
    }
    // Last, as in the CSV source: a rejected row's key stays free for a good row.
    if (seen instanceof TextKeySet) {
      /** uuid keys spelled otherwise (upper case, braces): the canonical text, which the set holds */
      let canonical: string | undefined;
      if (reason === null && plan.uuidKeys && !(keyBytes && isCanonicalUuid(buf, starts[0], starts[0] + keyLen))) {
        const text = keyBytes ? buf.toString('utf8', starts[0], starts[0] + keyLen) : String(key);
        canonical = canonicalUuid(text);
        if (canonical === undefined) reason = notUuidReason(text);
      }
      if (reason === null) {
        const id = canonical !== undefined ? seen.addString(canonical) : keyBytes ? seen.addBytes(buf, starts[0], starts[0] + keyLen) : typeof key === 'number' ? seen.addInteger(key) : seen.addString(key!);
        if (id < 0) reason = `duplicate key "${canonical ?? (keyBytes ? buf.toString('utf8', starts[0], starts[0] + keyLen) : key)}" (already seen in this run)`;
        else batch.keyIds![r] = id;
      }
      if (keyBytes && reason !== null) key = canonical ?? buf.toString('utf8', starts[0], starts[0] + keyLen);
    } else if (reason === null && !seen.add(key!)) reason = `duplicate key "${key}" (already seen in this run)`;
    if (reason !== null) {
      batch.rejects.push({ line: null, key: key === null ? null : String(key), reason, raw: rawRow(reader, plan.rawNames, nf, plan.intKey, plan.binaryPassthrough) } satisfies Reject);
      return;
    }
    if (!batch.textKeys) batch.keys[r] = key!;
    batch.n = r + 1;
  }

  /** End every connection of this source, the snapshot's too (its id stops working). Safe to call twice. */
  async close(): Promise<void> {
    await this.conns.close();
  }
}

/** A passthrough column read in its binary form: typed, and not text already. */
function binaryPassthrough(c: Column): boolean {
  return c.resultType !== 'text';
}

/** A rejected row as text for batchinfer.rejects.raw: column=value pairs, float4 features decoded. */
function rawRow(reader: BinaryCopyReader, names: string[], featureCount: number, intKey: boolean, binaryPassthrough: Uint8Array): string {
  return names
    .map((n, i) => {
      const len = reader.lengths[i];
      if (len < 0) return `${n}=NULL`;
      if (i > featureCount && binaryPassthrough[i - featureCount - 1] === 1) return `${n}=<${len} bytes, binary>`;
      if (i === 0 && intKey) return `${n}=${reader.int8Text(reader.starts[0])}`;
      const isFloat = i >= 1 && i <= featureCount && len === 4 && reader.floatFields[i] === 1;
      return `${n}=${isFloat ? reader.float4(reader.starts[i]) : reader.buf.toString('utf8', reader.starts[i], reader.starts[i] + len)}`;
    })
    .join(', ');
}

import { SeenKeys, parseBigintKey, type Key } from './keys.js';
import pg from 'pg';
import { copyOut } from './copy-out.js';
import { UsageError, SourceError, errorMessage } from '../errors.js';
import type { JobSpec } from '../spec/job-spec.js';
import { templateVars, type DataInterval } from '../spec/template.js';
import { badNumberReason, parseNumber } from './parse-number.js';
import { bindTemplate, ident, settingsStatement } from './postgres-query.js';
import { BinaryCopyReader } from './copy-binary-reader.js';
import type { ChunkRange, PlanOptions, ReadOptions, Reject, RowBatch, Source } from './source.js';

/** A key range of the query's rows: lo <= key < hi (open ends are null); `nulls` is the chunk of rows with a NULL key. */
export interface PgChunkRange {
  lo: string | null;
  hi: string | null;
  nulls?: boolean;
}

const integerKeyTypes = new Set(['bigint', 'integer', 'smallint']);
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
}

interface Column {
  name: string;
  type: string;
}

/**
 * Rows from a SQL query. Chunks are key ranges found in one ordered pass over the keys (never
 * OFFSET), so each chunk is an independent query. Rows come out with
 * COPY (FORMAT binary); numeric features arrive as float4 bytes and go straight into the tensor.
 */
export class PostgresSource implements Source {
  private client?: pg.Client;
  private columns?: Map<string, Column>;
  /** the key column arrives as binary int8 */
  private intKey = false;
  /** keys are bigint Keys (numbers up to 15 digits), else text */
  private bigintKeys = false;
  private readonly sql: string;
  private readonly where: string;

  constructor(
    private readonly spec: JobSpec,
    private readonly opts: { url: string; logicalDate: string; interval?: DataInterval },
  ) {
    if (spec.source.kind !== 'postgres') throw new Error('not a postgres source');
    this.where = `${spec.specLabel}: source.postgres.query`;
    this.sql = bindTemplate(spec.source.query, this.where).sql;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ connectionString: this.opts.url, application_name: 'batchinfer source' });
    try {
      await client.connect();
    } catch (err) {
      throw new UsageError(`${this.spec.specLabel}: source.postgres.url: cannot connect: ${errorMessage(err)}`);
    }
    this.client = client;
    return client;
  }

  /** Run fn in a read-only transaction with the template variables bound. */
  private async inTransaction<T>(extra: Record<string, string | null>, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.connect();
    await c.query('BEGIN READ ONLY');
    try {
      const s = settingsStatement(templateVars(this.opts.logicalDate, this.opts.interval), extra);
      await c.query(s.text, s.values);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private queryError(err: unknown): Error {
    if (err instanceof UsageError || err instanceof SourceError) return err;
    return new UsageError(`${this.where}: ${errorMessage(err)}`);
  }

  /** Column names and SQL types of the query's result, via a LIMIT 0 probe. */
  private async describe(): Promise<Map<string, Column>> {
    if (this.columns) return this.columns;
    const fields = await this.inTransaction({}, async (c) => (await c.query(`SELECT * FROM (${this.sql}) q LIMIT 0`)).fields).catch((e) => {
      throw this.queryError(e);
    });
    const c = await this.connect();
    const types = await c.query<{ oid: number; name: string }>(`SELECT oid::int, format_type(oid, NULL) AS name FROM pg_type WHERE oid = ANY($1)`, [fields.map((f) => f.dataTypeID)]);
    const typeName = new Map(types.rows.map((r) => [r.oid, r.name]));
    this.columns = new Map(fields.map((f) => [f.name, { name: f.name, type: typeName.get(f.dataTypeID) ?? 'unknown' }]));
    return this.columns;
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
    const c = await this.connect();
    let finished = false;
    // Stopped while the server is still sorting (no rows arrive to check the signal on): drop the connection.
    const onAbort = () => void c.end().catch(() => undefined);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await c.query('BEGIN READ ONLY');
      const s = settingsStatement(templateVars(this.opts.logicalDate, this.opts.interval), {});
      await c.query(s.text, s.values);
      const stream = c.query(copyOut(`COPY (SELECT k${intKey ? '::int8' : '::text'} FROM (SELECT ${ident(this.spec.key)} AS k FROM (${this.sql}) q) s ORDER BY s.k) TO STDOUT (FORMAT binary)`));
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
            chunks.push({ chunk: chunks.length, range: { lo: chunks.length === 0 ? null : lo, hi: text, keyType }, plannedRows: rows });
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
      throw this.queryError(err);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      // Stopped inside the COPY: drop the connection (a ROLLBACK would queue behind the COPY).
      if (!finished) {
        this.client = undefined;
        await c.end().catch(() => undefined);
      }
    }
    if (rows > 0) chunks.push({ chunk: chunks.length, range: { lo: chunks.length === 0 ? null : lo, hi: null, keyType }, plannedRows: rows });
    if (nulls > 0) chunks.push({ chunk: chunks.length, range: { lo: null, hi: null, nulls: true, keyType }, plannedRows: nulls });
    if (opts.onChunks && chunks.length > handed) opts.onChunks(chunks.slice(handed));
    return chunks;
  }

  async *read(chunk: ChunkRange, opts: ReadOptions = {}): AsyncIterable<RowBatch> {
    const { signal } = opts;
    const cols = await this.describe();
    const spec = this.spec;
    const range = chunk.range as unknown as PgChunkRange & { keyType: string };
    const key = ident(spec.key);
    const features = spec.inputs.flatMap((input, ii) => input.columns.map((c, pos) => ({ column: c, ii, pos, numeric: numericTypes.has(cols.get(c)!.type) })));
    const select = [
      // Integer keys travel as binary int8 (no int8out in the server, no UTF-8 decode here).
      integerKeyTypes.has(cols.get(spec.key)!.type) ? `${key}::int8` : `${key}::text`,
      ...features.map((f) => (f.numeric ? `${ident(f.column)}::float4` : `${ident(f.column)}::text`)),
      ...spec.passthrough.map((c) => `${ident(c)}::text`),
    ];
    const conds = range.nulls
      ? [`${key} IS NULL`]
      : [
          range.lo !== null ? `${key} >= current_setting('batchinfer.lo')::${range.keyType}` : null,
          range.hi !== null ? `${key} < current_setting('batchinfer.hi')::${range.keyType}` : null,
          `${key} IS NOT NULL`,
        ].filter(Boolean);
    const copySql = `COPY (SELECT ${select.join(', ')} FROM (${this.sql}) q WHERE ${conds.join(' AND ')}) TO STDOUT (FORMAT binary)`;
    const widths = spec.inputs.map((i) => i.columns.length);
    const batchSize = spec.batchSize;
    const batch: RowBatch = {
      n: 0,
      features: widths.map((w) => new Float32Array(batchSize * w)),
      keys: new Array<Key>(batchSize),
      passthrough: spec.passthrough.map(() => new Array<string>(batchSize)),
      rejects: [],
      lines: null,
    };
    const reader = new BinaryCopyReader(select.length);
    this.intKey = integerKeyTypes.has(cols.get(spec.key)!.type);
    this.bigintKeys = spec.keyType === 'bigint';
    features.forEach((f, i) => (reader.floatFields[i + 1] = f.numeric ? 1 : 0));
    const plan: FeaturePlan = {
      columns: features.map((f) => f.column),
      input: Int32Array.from(features, (f) => f.ii),
      pos: Int32Array.from(features, (f) => f.pos),
      numeric: Uint8Array.from(features, (f) => (f.numeric ? 1 : 0)),
      widths: Int32Array.from(widths),
      rawNames: [spec.key, ...features.map((f) => f.column), ...spec.passthrough],
    };
    const seen = new SeenKeys(opts.takenKeys);
    const c = await this.connect();
    await c.query('BEGIN READ ONLY');
    let finished = false;
    try {
      const s = settingsStatement(templateVars(this.opts.logicalDate, this.opts.interval), { lo: range.lo, hi: range.hi });
      await c.query(s.text, s.values);
      const stream = c.query(copyOut(copySql));
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
      throw err instanceof UsageError ? err : new SourceError(`${this.where}: ${errorMessage(err)}`);
    } finally {
      // Stopped early (an error, or the consumer gave up): the connection may still be inside the
      // COPY, where a ROLLBACK would queue behind it forever. Drop the connection instead; the next
      // read opens a new one.
      if (!finished) {
        this.client = undefined;
        await c.end().catch(() => undefined);
      }
    }
  }

  private decodeRow(reader: BinaryCopyReader, batch: RowBatch, plan: FeaturePlan, seen: SeenKeys): void {
    const { buf, view, starts, lengths } = reader;
    const r = batch.n;
    const keyLen = lengths[0];
    let key: Key | null = null;
    let reason: string | null = null;
    if (keyLen >= 0) {
      if (this.intKey) key = this.bigintKeys ? reader.int8Key(starts[0]) : reader.int8Text(starts[0]);
      else {
        const text = buf.toString('utf8', starts[0], starts[0] + keyLen);
        key = text;
        if (this.bigintKeys && text !== '') {
          const k = parseBigintKey(text);
          if (k === undefined) reason = `key "${text}" is not a 64-bit integer (key_type: bigint)`;
          else key = k;
        }
      }
    }
    if (key === null || key === '') reason = `empty key column "${this.spec.key}"`;
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
      pt[p][r] = lengths[i] < 0 ? null : buf.toString('utf8', starts[i], starts[i] + lengths[i]);
    }
    // Last, as in the CSV source: a rejected row's key stays free for a good row.
    if (reason === null && !seen.add(key!)) reason = `duplicate key "${key}" (already seen in this run)`;
    if (reason !== null) {
      batch.rejects.push({ line: null, key: key === null ? null : String(key), reason, raw: rawRow(reader, plan.rawNames, nf, this.intKey) } satisfies Reject);
      return;
    }
    batch.keys[r] = key!;
    batch.n = r + 1;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end();
  }
}

/** A rejected row as text for batchinfer.rejects.raw: column=value pairs, float4 features decoded. */
function rawRow(reader: BinaryCopyReader, names: string[], featureCount: number, intKey: boolean): string {
  return names
    .map((n, i) => {
      const len = reader.lengths[i];
      if (len < 0) return `${n}=NULL`;
      if (i === 0 && intKey) return `${n}=${reader.int8Text(reader.starts[0])}`;
      const isFloat = i >= 1 && i <= featureCount && len === 4 && reader.floatFields[i] === 1;
      return `${n}=${isFloat ? reader.float4(reader.starts[i]) : reader.buf.toString('utf8', reader.starts[i], reader.starts[i] + len)}`;
    })
    .join(', ');
}

import { from as copyFrom } from 'pg-copy-streams';
import type { Tensor } from 'onnxruntime-node';
import { buildFeeds, feedInputs } from '../model/feeds.js';
import { COPY_HEADER, COPY_TRAILER, CopyWriter, provenanceBytes } from '../sink/copy-binary.js';
import { encodeRows, nanRows } from '../sink/encode-rows.js';
import { keyOfTuple, sortTuplesByKey, tuplesAscend } from '../sink/sort-tuples.js';
import { qualified, quoteIdent, resultColumns } from '../sink/result-table.js';
import { loadChunk } from '../runs/ledger.js';
import { keyOf, type ChunkRange, type Reject, type RowBatch } from '../sources/source.js';
import { bigintKey, type Key } from '../sources/keys.js';
import type { TextKeySet } from '../sources/text-keys.js';
import type { ChunkContext } from './chunk-context.js';
import { defaults } from '../defaults.js';
import { FinalError, SourceError, errorMessage, sqlState } from '../errors.js';
import { sortTextKeys, trace } from '../trace.js';
import { ChunkProfiler, type ProfilePlan } from '../monitoring/chunk-profiler.js';
import type { ColumnProfile } from '../monitoring/column-profile.js';
import { monitoringOf } from '../spec/job-spec.js';
import { runProfilePlan } from '../monitoring/run-profile-plan.js';

export interface ChunkOutcome {
  chunk: number;
  /** already done by an earlier attempt: nothing written */
  skipped: boolean;
  rowsRead: number;
  rowsScored: number;
  rowsRejected: number;
}

const COPY_WRITE_BYTES = 256 << 10;

/** One encode buffer per worker context, reused chunk after chunk. */
const writers = new WeakMap<ChunkContext, CopyWriter>();
function copyWriterOf(ctx: ChunkContext): CopyWriter {
  let w = writers.get(ctx);
  if (!w) writers.set(ctx, (w = new CopyWriter(COPY_WRITE_BYTES * 2)));
  w.pos = 0;
  w.tuples = 0;
  return w;
}

/** Each worker context's profile plan (its run's bin edges), decided or read once. */
const plans = new WeakMap<ChunkContext, ProfilePlan | null>();
async function profilePlanOf(ctx: ChunkContext, chunk: ChunkRange, signal: AbortSignal | undefined): Promise<ProfilePlan | undefined> {
  if (!plans.has(ctx)) plans.set(ctx, (await runProfilePlan({ client: ctx.client, run: ctx.run, outputs: ctx.outputs, source: ctx.source, session: ctx.session, chunk, signal })) ?? null);
  return plans.get(ctx) ?? undefined;
}

/** Thrown when a chunk's rows collide with keys another chunk of the same run already wrote. */
class KeyConflict extends Error {}

/**
 * Score one chunk and commit its rows, its rejects and its done-mark in one transaction. A chunk
 * already done is skipped; one being processed elsewhere is waited for (row lock), so running the
 * same chunk twice, even at once, leaves exactly one copy.
 */
export async function processChunk(ctx: ChunkContext, chunkNo: number, onRows?: (rows: number) => void, signal?: AbortSignal): Promise<ChunkOutcome> {
  const chunk = await loadChunk(ctx.client, ctx.run.runId, chunkNo);
  const plan = await profilePlanOf(ctx, chunk, signal);
  trace(`chunk ${chunkNo}: profile plan`);
  await ctx.client.query(`UPDATE batchinfer.chunks SET attempts = attempts + 1, worker = $3, started_at = now(), status = CASE WHEN status = 'failed' THEN 'pending' ELSE status END, error = NULL WHERE run_id = $1 AND chunk = $2 AND status <> 'done'`, [ctx.run.runId, chunkNo, ctx.workerName]);
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptChunk(ctx, chunkNo, chunk, attempt > 1, onRows, signal, plan);
    } catch (err) {
      if (!(err instanceof KeyConflict) || attempt >= defaults.chunkConflictAttempts) throw err instanceof KeyConflict ? new Error(`chunk ${chunkNo}: keys kept colliding with other chunks of run ${ctx.run.runId}`) : err;
    }
  }
}

async function attemptChunk(
  ctx: ChunkContext,
  chunkNo: number,
  chunk: ChunkRange,
  dedupe: boolean,
  onRows: ((rows: number) => void) | undefined,
  signal: AbortSignal | undefined,
  plan: ProfilePlan | undefined,
): Promise<ChunkOutcome> {
  const { client, run, session, outputs } = ctx;
  // The chunk's profile, from the arrays scoring already holds; written with its rows, so a retried chunk counts once.
  const profiler = plan && new ChunkProfiler(plan);
  // One batch in profileEvery (counted from the chunk's first, so a retry profiles the same rows).
  const profileEvery = monitoringOf(run.spec).profileEvery;
  let batchNo = 0;
  const spec = run.spec;
  let copy: ReturnType<typeof copyFrom> | undefined;
  /** the server ended the COPY with this error: nothing left to abort */
  let copyError: Error | undefined;
  // Chunk commits don't wait for the WAL flush: a chunk lost in a server crash loses its rows and its
  // done-mark together (resume redoes it), and the run's final status commits synchronously, which
  // flushes every chunk before it.
  await client.query('BEGIN; SET LOCAL synchronous_commit = off');
  try {
    const lock = await client.query<{ status: string; rows_read: string; rows_scored: string; rows_rejected: string }>(
      `SELECT status, rows_read, rows_scored, rows_rejected FROM batchinfer.chunks WHERE run_id = $1 AND chunk = $2 FOR UPDATE`,
      [run.runId, chunkNo],
    );
    const row = lock.rows[0];
    if (row.status === 'done') {
      await client.query('COMMIT');
      return { chunk: chunkNo, skipped: true, rowsRead: Number(row.rows_read), rowsScored: Number(row.rows_scored), rowsRejected: Number(row.rows_rejected) };
    }
    // After a key collision: find which of this chunk's keys other chunks already committed, before the
    // COPY opens (the connection can't run a query while a COPY is in progress). The first occurrence
    // in input order wins: keys a later chunk holds are taken back from it (its rows become its
    // rejects); keys an earlier chunk holds make this chunk's rows rejects.
    const takenKeys = dedupe ? await resolveDuplicates(ctx, chunkNo, chunk, signal) : undefined;
    const table = qualified(spec.sink.schema, spec.sink.table);
    const columns = resultColumns(spec, outputs)
      .filter((c) => !(ctx.scoredAtByServer && c.name === 'scored_at'))
      .map((c) => quoteIdent(c.name));
    const stream = (copy = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN (FORMAT binary)`)));
    stream.on('error', (err: Error) => (copyError ??= err));
    const write = async (b: Buffer) => {
      if (copyError) throw copyError;
      if (!stream.write(b)) await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e);
        stream.once('drain', () => { stream.off('error', onErr); resolve(); });
        stream.once('error', onErr);
      });
    };
    /**
     * Send a view of the writer's buffer (no copy, no new memory per part: a copy of every 256 KB part cost
     * its allocation, page faults and garbage collection). Once the write has drained, the COPY stream and the
     * socket under it hold nothing more and the buffer is the writer's again; if either still holds bytes
     * (a part smaller than their high-water marks is queued without a drain), the writer gets a new buffer.
     */
    const writeLent = async (part: Buffer) => {
      let drained = false;
      try {
        await write(part);
        const socket = (client as unknown as { connection?: { stream?: { writableLength?: number } } }).connection?.stream;
        drained = stream.writableLength === 0 && socket?.writableLength === 0;
      } finally {
        if (!drained) writer.renew(); // also after a failed write: the part may still be queued
      }
    };
    const provenance = { bytes: provenanceBytes(run.runId, run.logicalDate, run.modelVersion, ctx.scoredAtByServer ? undefined : new Date()), fields: ctx.scoredAtByServer ? 3 : 4 };
    const writer = copyWriterOf(ctx);
    // Text and uuid keys go to the server in key order (B-tree locality: random keys such as UUIDs
    // otherwise touch a random leaf page per row); BATCHINFER_SORT_KEYS=0 sends them in input order.
    const sortKeys = spec.keyType !== 'bigint' && sortTextKeys;
    if (sortKeys) writer.trackTuples();
    /** the last key streamed while the chunk's keys ascend */
    let ascendingUpTo: Buffer | undefined;
    /** the chunk's keys stopped ascending: its rows are held (up to defaults.sortWindowBytes) and sent sorted */
    let holding = false;
    /** the chunk's text keys, as its source holds them */
    let keySet: TextKeySet | undefined;
    /**
     * Send what the writer holds. With sortKeys: rows whose keys ascend (as ids: shorter first) go as
     * they are (streamed); once keys stop ascending, the rest of the chunk is held and sent sorted.
     * Every part goes as a view of the writer's buffer (writeLent).
     */
    const flush = async (last: boolean) => {
      if (!sortKeys) return writeLent(writer.lend());
      if (!holding) {
        // keys that ascend as ids do gain nothing from sorting: stream them, as without sorting (the
        // chunk's key set knows when every key so far ascended: no second look at the rows)
        if (keySet?.inOrder || tuplesAscend(writer.buf, writer.tupleStarts!, writer.tuples, ascendingUpTo)) {
          ascendingUpTo = keyOfTuple(writer.buf, writer.tupleStarts![writer.tuples - 1]);
          return writeLent(writer.lend());
        }
        holding = true;
        if (!last) return;
      }
      writer.ensure(writer.pos);
      const sorted = sortTuplesByKey(writer.buf, writer.pos, writer.tupleStarts!, writer.tuples);
      writer.pos = 0;
      writer.tuples = 0;
      await writeLent(sorted);
    };
    const fetches = [...new Set(outputs.map((o) => o.output))];
    const rejects: Reject[] = [];
    const inputs = feedInputs(spec, session);
    let rowsScored = 0;
    await write(COPY_HEADER);
    for await (const batch of ctx.source.read(chunk, { signal, takenKeys, snapshot: ctx.run.sourceSnapshot ?? undefined })) {
      rejects.push(...batch.rejects);
      keySet = batch.textKeys;
      if (batch.n > 0) {
        const { feeds, unfed } = buildFeeds(inputs, batch, batch.n);
        const results = (await session.run(feeds, fetches)) as Record<string, Tensor>;
        const nan = nanRows(outputs, results, batch.n);
        const skip = unfed && nan ? unfed.skip.map((u, r) => u | nan.skip[r]) : (unfed?.skip ?? nan?.skip);
        encodeRows(writer, batch, spec.keyType, outputs, results, provenance, skip);
        if (profiler && batchNo++ % profileEvery === 0) profiler.addBatch(batch, results);
        // Fewer, larger socket writes: each write is a syscall and a CopyData message.
        if (writer.pos >= (holding ? defaults.sortWindowBytes : Math.min(COPY_WRITE_BYTES, defaults.sortWindowBytes))) await flush(false);
        rowsScored += batch.n;
        if (skip) {
          for (let r = 0; r < batch.n; r++) {
            if (skip[r] !== 1) continue;
            const reason = unfed?.skip[r] === 1 ? unfed.reasons[r] : `model output NaN in column "${nan!.columns[r]}"`;
            rejects.push({ line: batch.lines?.[r] ?? null, key: String(keyOf(batch, r)), reason, raw: rawOfRow(ctx, batch, r) });
            rowsScored--;
          }
        }
      }
      onRows?.(batch.n + batch.rejects.length);
    }
    trace(`chunk ${chunkNo}: read done`);
    // Every planned row is accounted for, or the chunk fails loudly: never a run that succeeds with rows missing.
    const rowsRead = rowsScored + rejects.length;
    if (chunk.plannedRows !== undefined && rowsRead !== chunk.plannedRows)
      throw new SourceError(
        `chunk ${chunkNo}: planned ${chunk.plannedRows} rows but read ${rowsRead}: the input changed since the run was planned (or the reader and planner disagree); nothing of this chunk was written; start a new run with --fresh`,
      );
    if (writer.pos > 0) await flush(true);
    await write(COPY_TRAILER);
    await new Promise<void>((resolve, reject) => {
      if (copyError) return reject(copyError);
      stream.once('error', reject);
      stream.end(() => resolve());
    });
    trace(`chunk ${chunkNo}: copy done`);
    await insertRejects(ctx, chunkNo, rejects);
    trace(`chunk ${chunkNo}: rejects`);
    if (profiler) await insertChunkProfiles(ctx, chunkNo, profiler.profiles());
    trace(`chunk ${chunkNo}: profiles`);
    const rowsRejected = rejects.length;
    await client.query(
      `UPDATE batchinfer.chunks SET status = 'done', rows_read = $3, rows_scored = $4, rows_rejected = $5, finished_at = clock_timestamp(), error = NULL WHERE run_id = $1 AND chunk = $2`,
      [run.runId, chunkNo, rowsScored + rowsRejected, rowsScored, rowsRejected],
    );
    await client.query('COMMIT');
    trace(`chunk ${chunkNo}: committed`);
    return { chunk: chunkNo, skipped: false, rowsRead: rowsScored + rowsRejected, rowsScored, rowsRejected };
  } catch (err) {
    // A COPY still open holds the connection: abort it (CopyFail) before the ROLLBACK can run. One the
    // server refused (its table dropped meanwhile, a constraint) is over: aborting it would wait forever.
    if (copy && !copy.writableFinished && !copyError) await abortCopy(copy, err as Error);
    await client.query('ROLLBACK').catch(() => undefined);
    if (sqlState(err) === '23505') {
      // Only a clash on batchinfer's own primary key (run_id, key) is a duplicate between chunks.
      const constraint = (err as { constraint?: string }).constraint;
      const pk = await client.query<{ conname: string }>(`SELECT conname FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, [qualified(spec.sink.schema, spec.sink.table)]).catch(() => undefined);
      if (!pk || pk.rows[0]?.conname === constraint) throw new KeyConflict();
      throw new FinalError(
        `chunk ${chunkNo}: the rows violate unique index "${constraint}" on ${spec.sink.schema}.${spec.sink.table}, which is not batchinfer's primary key (run_id, ${spec.key}) (${(err as { detail?: string }).detail ?? errorMessage(err)}); an index added to the result table must include run_id, or be dropped`,
      );
    }
    throw err;
  }
}

function abortCopy(copy: ReturnType<typeof copyFrom>, err: Error): Promise<void> {
  return new Promise((resolve) => {
    if (copy.closed) return resolve();
    copy.once('close', () => resolve());
    copy.on('error', () => undefined);
    copy.destroy(err);
  });
}

/**
 * Which of this chunk's keys other chunks of the run already committed, and what to do about each (a
 * rare path: only after a primary-key collision). A key held by an earlier chunk stays there: this
 * chunk's row becomes a duplicate reject (returned as takenKeys). A key held by a later chunk is taken
 * back, inside this chunk's transaction: the later chunk's row is deleted and becomes that chunk's
 * reject, its counts move with it. Which chunk holds a key is found by reading the other done chunks'
 * keys again (the result table does not record chunks).
 */
async function resolveDuplicates(ctx: ChunkContext, chunkNo: number, chunk: ChunkRange, signal: AbortSignal | undefined): Promise<Set<Key>> {
  const spec = ctx.run.spec;
  const keys: Key[] = [];
  for await (const batch of ctx.source.read(chunk, { signal, snapshot: ctx.run.sourceSnapshot ?? undefined })) for (let r = 0; r < batch.n; r++) keys.push(keyOf(batch, r));
  const inTable = new Set<Key>();
  for (let i = 0; i < keys.length; i += 10_000) {
    const { rows } = await ctx.client.query<{ k: string }>(
      `SELECT ${quoteIdent(spec.key)}::text AS k FROM ${qualified(spec.sink.schema, spec.sink.table)} WHERE run_id = $1 AND ${quoteIdent(spec.key)} = ANY($2::${spec.keyType}[])`,
      [ctx.run.runId, keys.slice(i, i + 10_000).map(String)],
    );
    for (const r of rows) inTable.add(spec.keyType === 'bigint' ? bigintKey(r.k) : r.k);
  }
  if (inTable.size === 0) return inTable;
  // Find each held key's chunk (and the row's line and text there), later chunks only: the rest stay.
  const later = await ctx.client.query<{ chunk: number; range: Record<string, unknown>; planned_rows: string | null }>(
    `SELECT chunk, range, planned_rows FROM batchinfer.chunks WHERE run_id = $1 AND chunk > $2 AND status = 'done' ORDER BY chunk FOR UPDATE`,
    [ctx.run.runId, chunkNo],
  );
  const takenBack = new Map<number, Reject[]>();
  let left = inTable.size;
  for (const c of later.rows) {
    if (left === 0) break;
    const range: ChunkRange = { chunk: c.chunk, range: c.range, plannedRows: c.planned_rows === null ? undefined : Number(c.planned_rows) };
    const seen = new Set<Key>();
    for await (const batch of ctx.source.read(range, { signal, snapshot: ctx.run.sourceSnapshot ?? undefined })) {
      for (let r = 0; r < batch.n; r++) {
        const k = keyOf(batch, r);
        if (!inTable.has(k) || seen.has(k)) continue;
        seen.add(k);
        inTable.delete(k);
        left--;
        const list = takenBack.get(c.chunk) ?? [];
        list.push({ line: batch.lines?.[r] ?? null, key: String(k), reason: `duplicate key "${k}" (already seen in this run)`, raw: rawOfRow(ctx, batch, r) });
        takenBack.set(c.chunk, list);
      }
    }
  }
  const table = qualified(spec.sink.schema, spec.sink.table);
  for (const [other, rejects] of takenBack) {
    await ctx.client.query(`DELETE FROM ${table} WHERE run_id = $1 AND ${quoteIdent(spec.key)} = ANY($2::${spec.keyType}[])`, [ctx.run.runId, rejects.map((r) => r.key)]);
    await insertRejects(ctx, other, rejects);
    await ctx.client.query(`UPDATE batchinfer.chunks SET rows_scored = rows_scored - $3, rows_rejected = rows_rejected + $3 WHERE run_id = $1 AND chunk = $2`, [ctx.run.runId, other, rejects.length]);
  }
  return inTable; // held by earlier chunks: this chunk's rows with these keys are the duplicates
}

/** A scored row as text for a reject made after reading (NaN output, a duplicate taken back): key and features. */
function rawOfRow(ctx: ChunkContext, batch: RowBatch, r: number): string {
  const parts = [`${ctx.run.spec.key}=${keyOf(batch, r)}`];
  ctx.run.spec.inputs.forEach((input, i) => {
    const w = input.columns.length;
    input.columns.forEach((col, j) => parts.push(`${col}=${batch.features[i][r * w + j]}`));
  });
  batch.passthrough.forEach((values, p) => {
    const v = values[r];
    parts.push(`${ctx.run.spec.passthrough[p]}=${v === null ? 'NULL' : typeof v === 'string' ? v : `<${v.length} bytes, binary>`}`);
  });
  return parts.join(', ');
}

async function insertChunkProfiles(ctx: ChunkContext, chunkNo: number, profiles: ColumnProfile[]): Promise<void> {
  const rows = profiles.map((p) => ({ role: p.role, column_name: p.column, count: p.count, non_finite: p.nonFinite, min: p.min, max: p.max, mean: p.mean, m2: p.m2, zeros: p.zeros, bin_edges: p.edges, bin_counts: p.counts }));
  await ctx.client.query(
    `INSERT INTO batchinfer.chunk_profiles (run_id, chunk, role, column_name, count, non_finite, min, max, mean, m2, zeros, bin_edges, bin_counts)
     SELECT $1, $2, t.* FROM jsonb_to_recordset($3::jsonb) AS t(role text, column_name text, count bigint, non_finite bigint, min float8, max float8, mean float8, m2 float8, zeros bigint, bin_edges float8[], bin_counts bigint[])
     ON CONFLICT (run_id, chunk, role, column_name) DO UPDATE SET count = excluded.count, non_finite = excluded.non_finite, min = excluded.min, max = excluded.max, mean = excluded.mean, m2 = excluded.m2,
       zeros = excluded.zeros, bin_edges = excluded.bin_edges, bin_counts = excluded.bin_counts`,
    [ctx.run.runId, chunkNo, JSON.stringify(rows)],
  );
}

async function insertRejects(ctx: ChunkContext, chunkNo: number, rejects: Reject[]): Promise<void> {
  for (let i = 0; i < rejects.length; i += 10_000) {
    const part = rejects.slice(i, i + 10_000);
    await ctx.client.query(
      `INSERT INTO batchinfer.rejects (run_id, chunk, line, key, reason, raw) SELECT $1, $2, * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[])`,
      [ctx.run.runId, chunkNo, part.map((r) => r.line), part.map((r) => r.key), part.map((r) => r.reason), part.map((r) => r.raw.replaceAll('\0', '\u2400'))],
    );
  }
}

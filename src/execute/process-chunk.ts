import { from as copyFrom } from 'pg-copy-streams';
import type { Tensor } from 'onnxruntime-node';
import { ort } from '../model/session-cache.js';
import { COPY_HEADER, COPY_TRAILER, CopyWriter, provenanceBytes } from '../sink/copy-binary.js';
import { encodeRows } from '../sink/encode-rows.js';
import { qualified, quoteIdent, resultColumns } from '../sink/result-table.js';
import { loadChunk } from '../runs/ledger.js';
import type { ChunkRange, Reject, RowBatch } from '../sources/source.js';
import { bigintKey, type Key } from '../sources/keys.js';
import type { ChunkContext } from './chunk-context.js';
import { defaults } from '../defaults.js';
import { trace } from '../trace.js';

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
  return w;
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
  await ctx.client.query(`UPDATE batchinfer.chunks SET attempts = attempts + 1, worker = $3, started_at = now(), status = CASE WHEN status = 'failed' THEN 'pending' ELSE status END, error = NULL WHERE run_id = $1 AND chunk = $2 AND status <> 'done'`, [ctx.run.runId, chunkNo, ctx.workerName]);
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptChunk(ctx, chunkNo, chunk, attempt > 1, onRows, signal);
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
): Promise<ChunkOutcome> {
  const { client, run, session, outputs } = ctx;
  const spec = run.spec;
  let copy: ReturnType<typeof copyFrom> | undefined;
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
    // COPY opens (the connection can't run a query while a COPY is in progress).
    const takenKeys = dedupe ? await keysTakenByOtherChunks(ctx, chunk, signal) : undefined;
    const table = qualified(spec.sink.schema, spec.sink.table);
    const columns = resultColumns(spec, outputs).map((c) => quoteIdent(c.name));
    const stream = (copy = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN (FORMAT binary)`)));
    let copyError: Error | undefined;
    stream.on('error', (err: Error) => (copyError ??= err));
    const write = async (b: Buffer) => {
      if (copyError) throw copyError;
      if (!stream.write(b)) await new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e);
        stream.once('drain', () => { stream.off('error', onErr); resolve(); });
        stream.once('error', onErr);
      });
    };
    const provenance = provenanceBytes(run.runId, run.logicalDate, run.modelVersion, new Date());
    const writer = copyWriterOf(ctx);
    const fetches = [...new Set(outputs.map((o) => o.output))];
    const rejects: Reject[] = [];
    let rowsScored = 0;
    await write(COPY_HEADER);
    for await (const batch of ctx.source.read(chunk, { signal, takenKeys })) {
      rejects.push(...batch.rejects);
      if (batch.n > 0) {
        const results = await session.run(feeds(ctx, batch), fetches);
        encodeRows(writer, batch, spec.keyType, outputs, results as Record<string, Tensor>, provenance);
        // Fewer, larger socket writes: each write is a syscall and a CopyData message.
        if (writer.pos >= COPY_WRITE_BYTES) await write(writer.take());
        rowsScored += batch.n;
      }
      onRows?.(batch.n + batch.rejects.length);
    }
    trace(`chunk ${chunkNo}: read done`);
    if (writer.pos > 0) await write(writer.take());
    await write(COPY_TRAILER);
    await new Promise<void>((resolve, reject) => {
      if (copyError) return reject(copyError);
      stream.once('error', reject);
      stream.end(() => resolve());
    });
    trace(`chunk ${chunkNo}: copy done`);
    await insertRejects(ctx, chunkNo, rejects);
    const rowsRejected = rejects.length;
    await client.query(
      `UPDATE batchinfer.chunks SET status = 'done', rows_read = $3, rows_scored = $4, rows_rejected = $5, finished_at = now(), error = NULL WHERE run_id = $1 AND chunk = $2`,
      [run.runId, chunkNo, rowsScored + rowsRejected, rowsScored, rowsRejected],
    );
    await client.query('COMMIT');
    return { chunk: chunkNo, skipped: false, rowsRead: rowsScored + rowsRejected, rowsScored, rowsRejected };
  } catch (err) {
    // A COPY still open holds the connection: abort it (CopyFail) before the ROLLBACK can run.
    if (copy && !copy.writableFinished) await abortCopy(copy, err as Error);
    await client.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === '23505') throw new KeyConflict();
    throw err;
  }
}

function abortCopy(copy: ReturnType<typeof copyFrom>, err: Error): Promise<void> {
  return new Promise((resolve) => {
    copy.once('close', () => resolve());
    copy.on('error', () => undefined);
    copy.destroy(err);
  });
}

function feeds(ctx: ChunkContext, batch: RowBatch): Record<string, Tensor> {
  const Tensor = ort().Tensor;
  const out: Record<string, Tensor> = {};
  ctx.run.spec.inputs.forEach((input, i) => {
    const w = input.columns.length;
    out[input.name] = new Tensor('float32', batch.features[i].subarray(0, batch.n * w), [batch.n, w]);
  });
  return out;
}

/** Keys of this chunk that other chunks of the run already committed (a pre-pass over the chunk). */
async function keysTakenByOtherChunks(ctx: ChunkContext, chunk: ChunkRange, signal: AbortSignal | undefined): Promise<Set<Key>> {
  const spec = ctx.run.spec;
  const keys: Key[] = [];
  for await (const batch of ctx.source.read(chunk, { signal })) keys.push(...batch.keys.slice(0, batch.n));
  const taken = new Set<Key>();
  for (let i = 0; i < keys.length; i += 10_000) {
    const { rows } = await ctx.client.query<{ k: string }>(
      `SELECT ${quoteIdent(spec.key)}::text AS k FROM ${qualified(spec.sink.schema, spec.sink.table)} WHERE run_id = $1 AND ${quoteIdent(spec.key)} = ANY($2::${spec.keyType}[])`,
      [ctx.run.runId, keys.slice(i, i + 10_000)],
    );
    for (const r of rows) taken.add(spec.keyType === 'bigint' ? bigintKey(r.k) : r.k);
  }
  return taken;
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

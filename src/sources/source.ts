/** The port every row source implements (CSV file, Postgres query). */
import type { Key } from './keys.js';
import type { TextKeySet } from './text-keys.js';

/** A contiguous slice of a run's input: the unit of queueing, retry and commit. `range` is source-specific and stored as jsonb. */
export interface ChunkRange {
  chunk: number;
  range: Record<string, unknown>;
  /** rows the planner counted in this chunk, when it knows */
  plannedRows?: number;
  /**
   * A hint, not stored: score this chunk after the others. A CSV of ids in order as text keys marks its
   * first chunks, whose shorter ids ("1" .. "99999") would otherwise be in the result table's B-tree
   * before every later chunk's ids are inserted among them (see planCsvChunks).
   */
  scoreLast?: boolean;
}

/** An input row that could not be scored, kept with its reason. */
export interface Reject {
  /** file line where the record starts (header is line 1); null for sources without lines */
  line: number | null;
  key: string | null;
  reason: string;
  raw: string;
}

/**
 * Rows for one session.run. Filled in place by the source and valid until the consumer asks for the
 * next batch (sources reuse the arrays).
 */
export interface RowBatch {
  /** scorable rows in this batch */
  n: number;
  /** one per model input, row-major, n * columns filled */
  features: Float32Array[];
  /** see Key: numbers for bigint keys up to 15 digits; not filled when textKeys is set (use keyOf) */
  keys: Key[];
  /** text keys kept as bytes (key_type text): row r's key is textKeys' key keyIds[r] */
  textKeys?: TextKeySet;
  keyIds?: Int32Array;
  /** one array per passthrough column, n values each: text, a typed column's binary COPY bytes, or null (SQL NULL) */
  passthrough: (string | Buffer | null)[][];
  /** rows read since the previous batch that were rejected */
  rejects: Reject[];
  /** first file line of each scorable row (for messages); null for sources without lines */
  lines: number[] | null;
}

/** Row r's key, whichever way the source holds it. */
export function keyOf(batch: RowBatch, r: number): Key {
  return batch.textKeys !== undefined ? batch.textKeys.text(batch.keyIds![r]) : batch.keys[r];
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** keys already taken in this run (by other chunks): rows with these keys become duplicate-key rejects */
  takenKeys?: ReadonlySet<Key>;
  /**
   * Read inside this exported snapshot (a Postgres source's exportSnapshot(), e.g. the run's
   * runs.source_snapshot), so every chunk sees the rows the plan counted; read the data as it is now
   * when the exporter is gone. Sources without snapshots ignore it.
   */
  snapshot?: string;
}

export interface PlanOptions {
  /** chunks found so far, in order, each exactly once (not necessarily all of them: see plan) */
  onChunks?: (chunks: ChunkRange[]) => void;
  /** stop planning (the run was cancelled or failed) */
  signal?: AbortSignal;
}

export interface Source {
  /** Check that the input is reachable and has every column the spec names, without reading rows. */
  check(): Promise<void>;
  /**
   * Split the input into chunks; also checks that every column the spec names exists. Resolves with
   * every chunk; a source that finds chunks one by one also hands them to onChunks as it goes, so
   * scoring can start before planning ends.
   */
  plan(opts?: PlanOptions): Promise<ChunkRange[]>;
  /** Stream one chunk's rows in batches of at most batchSize scorable rows. */
  read(chunk: ChunkRange, opts?: ReadOptions): AsyncIterable<RowBatch>;
  /**
   * The SQL type of each passthrough column in the result table, as format_type prints it: a CSV's
   * declared types (text by default), a query's own column types (text for types only its database knows).
   */
  passthroughTypes(): Promise<string[]>;
  /** Something that changes when the input changes (size, mtime, query text), to decide whether a failed run may resume. */
  fingerprint(): Promise<string>;
  close(): Promise<void>;
}

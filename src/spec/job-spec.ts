import { defaults } from '../defaults.js';
/** The SQL type of a result table's key column (`key_type`). */
export type KeyType = 'text' | 'bigint' | 'uuid';

/** The normalized job spec the code uses (what the user wrote lives in RawSpec). */
export interface ModelInputSpec {
  /** model input name */
  name: string;
  /** source columns, in tensor order */
  columns: string[];
}

export interface OutputColumnSpec {
  /** result column */
  column: string;
  /** model output name */
  output: string;
  /** position along the last axis, when the output holds several values per row */
  index?: number;
}

export type SourceSpec =
  | { kind: 'csv'; /** absolute path template ({{ds}}) */ path: string }
  | { kind: 'postgres'; query: string; url?: string; /** the url as written, when it takes values from the environment (`${SOURCE_DB_URL}`): what the ledger keeps */ urlTemplate?: string };

/** When the scheduler runs a job (see schema.ts for each key's meaning and default). */
export interface ScheduleSpec {
  cron: string;
  /** IANA timezone of the cron and of logical dates */
  timezone: string;
  logicalDate: 'previous_day' | 'tick_date';
  catchup: boolean;
  catchupLimit: number;
  overlap: 'skip' | 'queue';
}

export interface JobSpec {
  name: string;
  /** absolute path of the spec file */
  specPath: string;
  /** spec path as the user gave it, for messages */
  specLabel: string;
  model: { path: string; version?: string };
  source: SourceSpec;
  key: string;
  /** the result table's key column type; text and uuid keys travel as bytes (TextKeySet), uuid ones canonical */
  keyType: KeyType;
  inputs: ModelInputSpec[];
  outputs: OutputColumnSpec[];
  passthrough: string[];
  /** a CSV passthrough's declared SQL types, one per passthrough column (the map form); absent: text */
  passthroughTypes?: CsvPassthroughType[];
  /** onSchemaChange: what happens when the job writes columns the existing table lacks (default fail) */
  sink: { schema: string; table: string; onSchemaChange?: 'fail' | 'append_new_columns' };
  batchSize: number;
  chunkRows: number;
  maxRejected: number;
  /** fewest rows a run must read, else it fails as input not ready (exit 3); undefined: no minimum */
  minRows?: number;
  schedule?: ScheduleSpec;
  /** what pruning deletes (see runs/prune.ts) */
  retention?: { keepRunsPerDate?: number; keepDays?: number };
  /** queued chunks: tries and the first backoff (default: defaults.chunkAttempts / chunkBackoffMs) */
  retries?: { attempts: number; backoffMs: number };
  /** profiles and drift (absent: the defaults, see monitoringOf) */
  monitoring?: MonitoringSpec;
}

/** What drift is measured against. */
export type ReferenceSpec = { kind: 'previous' } | { kind: 'run'; runId: number } | { kind: 'csv'; /** absolute (in the ledger: relative to the project root) */ path: string };

export interface MonitoringSpec {
  profile: boolean;
  /** profile one batch in this many (1: every row) */
  profileEvery: number;
  reference: ReferenceSpec;
  driftWarn: number;
  /** undefined: drift never fails a run */
  driftFail?: number;
  /** columns whose drift warns and fails (undefined: all) */
  columns?: string[];
}

/** A spec's monitoring settings, defaults filled in (runs stored before monitoring existed have none). */
export function monitoringOf(spec: JobSpec): MonitoringSpec {
  return { profile: true, profileEvery: defaults.profileEvery, reference: { kind: 'previous' }, driftWarn: defaults.driftWarn, ...spec.monitoring };
}

/** Columns batchinfer adds to every result row; a spec can't use these names. */
export const provenanceColumns = ['run_id', 'logical_date', 'model_version', 'scored_at'] as const;

/** The view showing the newest succeeded run per logical date is named after the result table plus this. */
export const latestViewSuffix = '_latest';

/** SQL types a CSV passthrough column may declare (`passthrough: { day: date }`); sources/typed-text.ts parses each. */
export const csvPassthroughTypes = ['text', 'date', 'timestamp', 'timestamptz', 'numeric', 'bigint', 'integer', 'smallint', 'double precision', 'real', 'boolean'] as const;
export type CsvPassthroughType = (typeof csvPassthroughTypes)[number];

import type { KeyType } from './spec/job-spec.js';

/** Every default in one place; units in the names. */
export const defaults = {
  /** rows per session.run call */
  batchSize: 1024,
  /** rows per chunk: the unit of queueing, retry and commit */
  chunkRows: 50_000,
  /** fraction (< 1) or count (>= 1) of input rows that may be rejected */
  maxRejected: 0,
  /** key column type in the result table */
  keyType: 'text' as KeyType,
  /** cron timezone */
  timezone: 'UTC',
  /** bytes read from a CSV file per read() while scoring a chunk */
  csvReadBytes: 4 << 20,
  /** first port tried for the embedded PostgreSQL server */
  embeddedPgPort: 54329,
  /** how many reject reasons a failed run quotes in its error */
  firstRejectReasons: 3,
  /**
   * text keys: a chunk's rows whose keys stop ascending are held and sent to the COPY in key order, up
   * to this many bytes at a time (B-tree locality for random keys; a 50,000-row chunk of 30 features
   * and two outputs is ~5 MB: one sorted run)
   */
  sortWindowBytes: 8 << 20,
  /** planning a Postgres source with integer ids as text keys: how long the largest id may take to find (for ChunkRange.scoreLast) */
  planHintMs: 50,
  /** attempts at a chunk whose rows collide with another chunk's keys before giving up */
  chunkConflictAttempts: 3,
  /** give up connecting to PostgreSQL after this long */
  dbConnectTimeoutMs: 10_000,
  /** TCP keepalive probes start after this much silence (a dead peer is noticed) */
  dbKeepAliveMs: 10_000,
  /** control queries (ledger reads and writes) give up after this long: a hung server fails the run */
  dbQueryTimeoutMs: 30_000,
  /** result-table DDL waits at most this long for a lock (analysts' open queries) before failing */
  ddlLockTimeoutMs: 5_000,
  /** longest key (UTF-8 bytes) a result table takes: a B-tree entry holds at most 2704 bytes; longer keys are rejects */
  maxKeyBytes: 1000,
  /** longest CSV record (bytes): a longer one (a stray quote running on) is a reject, never a memory spike */
  maxRecordBytes: 8 << 20,
  /** longest CSV header line (bytes) */
  maxHeaderBytes: 1 << 20,
  /** a running run whose owner has not shown a sign of life for this long is stale: the next run takes it over */
  runLeaseMs: 60_000,
  /** how often a run's owner renews its lease and checks for a cancel */
  runHeartbeatMs: 5_000,
  /** queued chunks: attempts before a chunk fails for good (exponential backoff from chunkBackoffMs) */
  chunkAttempts: 3,
  chunkBackoffMs: 1_000,
  /** a queue worker's hold on a chunk job, renewed at half this; a worker gone this long loses its chunk to another */
  queueLockMs: 30_000,
  /** a queue worker's SIGTERM grace: chunks in hand commit within it, or are handed back */
  workerGraceMs: 30_000,
  /** after the first SIGINT/SIGTERM, chunks in flight get this long before the process exits anyway (a worker's own --grace-ms comes first) */
  shutdownGraceMs: 60_000,
  /** a CSV up to this size is scored on the main thread unless --threads says otherwise (a pool costs more than it saves) */
  smallInputBytes: 4 << 20,
  /** schedule.logical_date: a tick's logical date is the day before the tick, in the schedule's timezone */
  logicalDate: 'previous_day' as 'previous_day' | 'tick_date',
  /** schedule.catchup: a starting scheduler makes up the ticks it missed */
  catchup: false,
  /** schedule.catchup_limit: at most this many missed ticks are made up (the newest) */
  catchupLimit: 7,
  /** schedule.overlap: a tick while the previous scheduled run is active is skipped */
  overlap: 'skip' as 'skip' | 'queue',
  /** backfill: runs active at once */
  backfillMaxActive: 2,
  /** backfill: a range longer than this many dates needs --yes */
  backfillConfirmDates: 1000,
  /** batchinfer ui: the dashboard's port and address (any other address needs BATCHINFER_UI_TOKEN) */
  uiPort: 8080,
  uiHost: '127.0.0.1',
  /** batchinfer ui: connections to the results database at most */
  uiPoolSize: 4,
  /** monitoring.drift_warn: a PSI above this is a warning */
  driftWarn: 0.1,
  /** monitoring.profile_every: profile one batch in this many (a systematic sample: 2 halves profiling's cost) */
  profileEvery: 2,
  /** rows a run reads once, from its first chunk, to place its histogram edges when it has no reference */
  profileSampleRows: 4096,
};

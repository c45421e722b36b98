/** Every default in one place; units in the names. */
export const defaults = {
  /** rows per session.run call */
  batchSize: 1024,
  /** rows per chunk: the unit of queueing, retry and commit */
  chunkRows: 50_000,
  /** fraction (< 1) or count (>= 1) of input rows that may be rejected */
  maxRejected: 0,
  /** key column type in the result table */
  keyType: 'text' as 'text' | 'bigint',
  /** cron timezone */
  timezone: 'UTC',
  /** bytes read from a CSV file per read() while scoring a chunk */
  csvReadBytes: 4 << 20,
  /** first port tried for the embedded PostgreSQL server */
  embeddedPgPort: 54329,
  /** how many reject reasons a failed run quotes in its error */
  firstRejectReasons: 3,
  /** attempts at a chunk whose rows collide with another chunk's keys before giving up */
  chunkConflictAttempts: 3,
};

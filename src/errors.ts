/**
 * The few error types the CLI maps to exit codes, and how a failure is classed by its cause (not by
 * where it happened), so a chunk is retried only when retrying can help.
 * Anything else is a bug or a transient fault (exit 1, stack with DEBUG).
 */

/** Bad flags, a bad spec, a model/spec mismatch, a missing file: retrying can't fix it (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A source problem found while reading (unreadable file, input changed since planning): fails the chunk for good. */
export class SourceError extends Error {
  override name = 'SourceError';
}

/**
 * A failure that retrying cannot fix but that is not the user's typo either (the model file changed
 * under a run, the input no longer matches its plan): the chunk fails at once, the run fails (exit 1).
 */
export class FinalError extends Error {
  override name = 'FinalError';
}

/**
 * The input for the date is not there yet (the day's CSV not delivered): exit 3, so cron, Airflow or a
 * retry loop can wait and try again, apart from a spec typo (2) and a failed run (1).
 */
export class InputNotReadyError extends UsageError {
  override name = 'InputNotReadyError';
}

/** A service (PostgreSQL, Redis) that can't be reached: transient (retried), and its one line says all (no stack). */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
}

/** `usage`: the user's to fix (exit 2); `final`: fails at once, no retry; `transient`: retry may succeed. */
export type ErrorClass = 'usage' | 'final' | 'transient';

/** Node socket errors that mean the connection, not the request, failed. */
const transientCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);
const transientMessages = /Connection terminated|connection timeout|timeout expired|Query read timeout|Client has encountered a connection error|socket hang up|terminating connection/i;

/**
 * Class a failure by what it is. PostgreSQL errors by SQLSTATE: connection loss (08), serialization
 * failures (40001), deadlocks (40P01), lock timeouts (55P03), cancels and shutdowns (57), out of
 * resources (53) are transient; syntax and undefined objects (42), data exceptions (22) and
 * constraint violations (23) are final (the caller turns the ones it knows into clearer errors).
 */
export function classifyError(err: unknown): ErrorClass {
  if (err instanceof UsageError) return 'usage';
  if (err instanceof FinalError || err instanceof SourceError) return 'final';
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && /^[0-9A-Z]{5}$/.test(code)) {
    const cls = code.slice(0, 2);
    if (cls === '08' || cls === '53' || cls === '57' || code === '40001' || code === '40P01' || code === '55P03' || cls === 'XX') return 'transient';
    if (cls === '42' || cls === '3F' || cls === '22' || cls === '23' || cls === '28' || cls === '0A') return 'final';
    return 'transient';
  }
  if (code && transientCodes.has(code)) return 'transient';
  if (typeof e?.message === 'string' && transientMessages.test(e.message)) return 'transient';
  return 'transient';
}

/** SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err === undefined) return 'unknown error (undefined was thrown)';
  return String(err);
}

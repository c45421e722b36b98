/**
 * The few error types the CLI maps to exit codes. Anything else is a bug (exit 1, stack with DEBUG).
 * UsageError: bad flags, a bad spec, a model/spec mismatch: retrying can't fix it (exit 2).
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A source problem found while reading (unreadable file, failing query): fails the run (exit 1). */
export class SourceError extends Error {
  override name = 'SourceError';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err === undefined) return 'unknown error (undefined was thrown)';
  return String(err);
}

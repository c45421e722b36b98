/** What a command may touch of the outside world: passed in so tests can call commands directly. */
export interface CommandIO {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** aborted on SIGINT/SIGTERM by the entry point */
  signal?: AbortSignal;
  /** the scheduler's reload request (SIGHUP): the entry point calls the listener on each */
  onReload?: (listener: () => void) => void;
}

export const print = (s: NodeJS.WritableStream, line: string) => s.write(line + '\n');

/**
 * How the user runs batchinfer, for the commands a hint tells them to type next: `npx batchinfer` when this
 * process was started by npx/npm exec (a clone, where `batchinfer` is not on PATH), else `batchinfer`.
 */
export const cliName = (env: NodeJS.ProcessEnv): string => (env.npm_command === 'exec' ? 'npx batchinfer' : 'batchinfer');

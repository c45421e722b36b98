import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defaults } from '../defaults.js';
import { EmbeddedPostgres } from '../db/embedded.js';
import { UsageError } from '../errors.js';
import { findProjectRoot, projectRoot } from '../spec/portable.js';
import type { CommandIO } from './io.js';

/**
 * Settings resolve here and only here: flag > environment > default. Every environment variable batchinfer
 * reads is in envSchema, with what it means; nothing else reads the environment (trace.ts's flag in worker
 * threads aside, see there).
 */

const postgresUrlFix = 'write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE';
const threadsFix = 'a whole number of scoring threads (0 = score on the main thread)';

/** Unset and empty mean the same: `DATABASE_URL= batchinfer run` runs on the embedded server. */
const variable = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

/** An environment variable's value in an error message: quoted, but never a URL (it may hold a password). */
const shown = (input: unknown) => (typeof input === 'string' ? ` ${JSON.stringify(input)}` : '');

function isUrlOf(text: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}
/** pg reads anything else as a host name relative to a base URL: `notaurl` became "getaddrinfo ENOTFOUND base". */
export const isPostgresUrl = (text: string) => isUrlOf(text, ['postgres:', 'postgresql:']);

export const envSchema = z.object({
  DATABASE_URL: variable(
    z.string().refine(isPostgresUrl, { error: `DATABASE_URL: not a PostgreSQL URL; ${postgresUrlFix}, or unset it to use the embedded server` }),
  ).describe('results database (and the default for Postgres sources), e.g. postgres://user@db:5432/scores; unset: the embedded server. The --database-url flag wins.'),
  REDIS_URL: variable(
    z.string().refine((t) => isUrlOf(t, ['redis:', 'rediss:']), { error: 'REDIS_URL: not a Redis URL; write redis://HOST:6379 (or rediss:// for TLS), or unset it to score inline' }),
  ).describe('Redis for the BullMQ queue, e.g. redis://localhost:6379; unset: chunks are scored in-process (inline executor)'),
  BATCHINFER_QUEUE: variable(
    z.enum(['redis', 'postgres', 'inline', 'none'], { error: (i) => `BATCHINFER_QUEUE${shown(i.input)}: write redis, postgres (the queue in the results database) or inline` }),
  ).describe('where queued chunks go: redis (default when REDIS_URL is set), postgres (BullMQ tables in the results database) or inline (score in-process). The --queue flag wins.'),
  BATCHINFER_QUEUE_NAME: variable(z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'BATCHINFER_QUEUE_NAME: letters, digits, . _ - only' })).describe(
    'the BullMQ queue name; default batchinfer-chunks. One per ledger: two results databases sharing a Redis need two names.',
  ),
  BATCHINFER_QUEUE_LOCK_MS: variable(
    z
      .string()
      .refine((t) => /^\d+$/.test(t) && Number(t) >= 1000, { error: (i) => `BATCHINFER_QUEUE_LOCK_MS${shown(i.input)}: a whole number of milliseconds >= 1000` })
      .transform(Number),
  ).describe(`a worker's hold on a chunk job (renewed at half of it); a worker gone this long loses its chunk to another; default ${defaults.queueLockMs}`),
  BATCHINFER_ROOT: variable(z.string()).describe("a worker's project root: the runs' model and input paths (relative in the ledger) resolve against it; default: the run's recorded root when it exists here, else the working directory. The --root flag wins."),
  BATCHINFER_SHUTDOWN_GRACE_MS: variable(
    z
      .string()
      .regex(/^\d+$/, { error: (i) => `BATCHINFER_SHUTDOWN_GRACE_MS${shown(i.input)}: a whole number of milliseconds` })
      .transform(Number),
  ).describe(`after the first SIGINT/SIGTERM, how long chunks in flight may take before the process exits anyway; default ${defaults.shutdownGraceMs}`),
  BATCHINFER_THREADS: variable(
    z
      .string()
      .regex(/^\d+$/, { error: (i) => `BATCHINFER_THREADS${shown(i.input)}: not a whole number; write ${threadsFix}, or unset it for one per core` })
      .transform(Number),
  ).describe('scoring threads of `run`; default: one per core; 0 = score on the main thread. The --threads flag wins.'),
  BATCHINFER_UI_TOKEN: variable(z.string().min(16, { error: 'BATCHINFER_UI_TOKEN: too short; use at least 16 characters (e.g. openssl rand -hex 16)' })).describe(
    'the dashboard\'s access token: `batchinfer ui` on a host other than 127.0.0.1 refuses to start without it; when set, every request needs `Authorization: Bearer <token>` or the cookie its /login form sets',
  ),
  BATCHINFER_PROFILE: variable(z.enum(['0', '1'], { error: (i) => `BATCHINFER_PROFILE${shown(i.input)}: write 0 (no profiles, no drift) or 1` }).transform((v) => v === '1')).describe(
    "0: runs that `run` creates are not profiled (no profile, no drift check; as monitoring.profile: false); 1 or unset: the spec's monitoring.profile decides. For A/B measurements of profiling's cost.",
  ),
  BATCHINFER_SORT_KEYS: variable(z.enum(['0', '1'], { error: (i) => `BATCHINFER_SORT_KEYS${shown(i.input)}: write 0 (random text keys go to the COPY in input order) or 1 (sorted per chunk, the default)` })).describe(
    "0: a chunk's text keys that are out of order (UUIDs) go to the COPY in input order instead of sorted (the default, which spares the server's primary-key B-tree). For A/B measurements.",
  ),
  BATCHINFER_HOME: variable(z.string()).describe("folder of the embedded server's state (and data, where its user can reach it); default: .batchinfer in the current folder"),
  BATCHINFER_PG_PORT: variable(
    z
      .string()
      .refine((t) => /^\d+$/.test(t) && Number(t) >= 1024 && Number(t) <= 65535, {
        error: (i) => `BATCHINFER_PG_PORT${shown(i.input)}: not a usable port; write a whole number from 1024 to 65535, or unset it (default ${defaults.embeddedPgPort})`,
      })
      .transform(Number),
  ).describe(`first port tried for the embedded server (the next free one is taken if it is busy); default ${defaults.embeddedPgPort}`),
  BATCHINFER_TRACE: variable(z.string())
    .transform((v) => v === '1')
    .describe("1: timestamped phase lines on stderr (where a run's wall time goes)"),
  DEBUG: variable(z.string())
    .transform((v) => v !== undefined)
    .describe('any value: stack traces with errors'),
  ORT_DISABLE_TELEMETRY: variable(z.string()).describe(
    "read by onnxruntime, not batchinfer: the CLI sets it to 1 unless it is set (onnxruntime's telemetry also leaves an empty mat-debug-<pid>.log in the temp folder of every process)",
  ),
});

export type EnvSettings = z.output<typeof envSchema>;

/** The environment, checked: every problem in one UsageError, one line each, naming the variable and what to write. */
export function parseEnv(env: NodeJS.ProcessEnv): EnvSettings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => (i.message.startsWith(String(i.path[0])) ? i.message : `${String(i.path[0])}: ${i.message}`)).join('\n'));
  return parsed.data;
}

const parsedEnvs = new WeakMap<object, EnvSettings>();
/** The settings of this command's environment, parsed once. */
export function settingsOf(io: CommandIO): EnvSettings {
  let s = parsedEnvs.get(io.env);
  if (!s) parsedEnvs.set(io.env, (s = parseEnv(io.env)));
  return s;
}

export function resolveThreads(flag: string | undefined, io: CommandIO): number {
  if (flag === undefined) return settingsOf(io).BATCHINFER_THREADS ?? os.availableParallelism();
  if (!/^\d+$/.test(flag)) throw new UsageError(`--threads ${flag}: not a whole number; pass ${threadsFix}`);
  return Number(flag);
}

/**
 * The project's embedded server: its folder is `.batchinfer` in the project root (the nearest folder
 * holding jobs/ or a package.json, above the spec when one is given, else above the working folder),
 * so every command reaches the same data wherever it is run from; BATCHINFER_HOME names another.
 */
export function embeddedServer(io: CommandIO, log = true, specPath?: string): EmbeddedPostgres {
  const s = settingsOf(io);
  const root = specPath ? projectRoot(path.resolve(io.cwd, specPath)) : findProjectRoot(io.cwd);
  const home = s.BATCHINFER_HOME ? path.resolve(io.cwd, s.BATCHINFER_HOME) : path.join(root, '.batchinfer');
  return new EmbeddedPostgres(home, s.BATCHINFER_PG_PORT ?? defaults.embeddedPgPort, log ? (line) => io.stderr.write(`batchinfer: ${line}\n`) : undefined);
}

/** The results database named by --database-url or DATABASE_URL (checked), or undefined for the embedded server. */
export function configuredDatabaseUrl(flag: string | undefined, io: CommandIO): string | undefined {
  if (flag !== undefined && !isPostgresUrl(flag)) throw new UsageError(`--database-url: not a PostgreSQL URL; ${postgresUrlFix}`);
  return flag ?? settingsOf(io).DATABASE_URL;
}

/** The results database: --database-url, else DATABASE_URL, else the embedded server (started when needed). */
export async function resolveDatabaseUrl(flag: string | undefined, io: CommandIO, specPath?: string): Promise<{ url: string; embedded: boolean }> {
  const url = configuredDatabaseUrl(flag, io);
  if (url) return { url, embedded: false };
  return { url: await embeddedServer(io, true, specPath).start(), embedded: true };
}

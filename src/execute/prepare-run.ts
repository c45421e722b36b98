import type pg from 'pg';
import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { describeModelFile } from '../model/model-file.js';
import { checkSignature, readSignature, type OutputColumn } from '../model/signature.js';
import { migrate } from '../runs/migrations.js';
import { claimRun, releaseRun, type Claim } from '../runs/claim-run.js';
import { addChunks, pendingChunks, planDone, planExtends, setSourceSnapshot, type NewRun, type RunTrigger } from '../runs/ledger.js';
import { PostgresSource } from '../sources/postgres-source.js';
import type { ChunkRange, Source } from '../sources/source.js';
import { ChunkFeed } from './chunk-feed.js';
import { ensureResultTable, resultColumns } from '../sink/result-table.js';
import { openSource } from '../sources/open-source.js';
import type { JobSpec } from '../spec/job-spec.js';
import { portableSpec, projectRoot } from '../spec/portable.js';
import { inlineOwner } from '../runs/owner.js';
import { trace } from '../trace.js';
import { dateInterval } from '../schedule/logical-date.js';
import type { DataInterval } from '../spec/template.js';

export interface PrepareOptions {
  spec: JobSpec;
  logicalDate: string;
  trigger: RunTrigger;
  databaseUrl: string;
  /** the project root the ledger's paths are relative to (default: found from the spec's path) */
  root?: string;
  /** names the owner in batchinfer.runs.owner (default: this process) */
  owner?: string;
  /** start a new run even when an unfinished one for the same date could be resumed */
  fresh?: boolean;
  /** stops a new run's background planning */
  planSignal?: AbortSignal;
  /** a scheduled run: its cron tick (ISO 8601, UTC); the run is the tick's, created once */
  scheduledFor?: string;
  /** the span the run's data covers; default: what the schedule's ticks of the logical date cover (see dateInterval) */
  interval?: DataInterval;
}

export interface PlanSummary {
  chunks: number;
  /** rows the planner counted in the run's chunks, when it knows (for the ETA) */
  plannedRows?: number;
}

export interface PreparedRun extends Claim {
  /** the owner's connection: holds the run's ownership lock until it ends; heartbeats and the finish go through it */
  ownerClient: pg.Client;
  outputs: OutputColumn[];
  /** the chunks to score, as the ledger gets them */
  feed: ChunkFeed;
  /** chunks to score, when known before scoring starts (a resumed run) */
  pendingChunks?: number;
  /** settles once the run is fully planned (at once for a resumed run); rejects when planning failed */
  planned: Promise<PlanSummary>;
  /** close the planner's source (a Postgres planner holds the snapshot the chunks read until then) */
  closePlanner(): Promise<void>;
}

/** Model, spec and source checked against each other before any row is read. */
export async function checkJob(spec: JobSpec, logicalDate: string, databaseUrl: string, interval?: DataInterval) {
  const model = await describeModelFile(spec.model.path, spec.model.version, `${spec.specLabel}: model.path`);
  trace('prepare: model loaded');
  const outputs = checkSignature(spec, readSignature(model.session));
  const source = openSource(spec, logicalDate, { databaseUrl, interval: interval ?? dateInterval(spec.schedule, logicalDate) });
  try {
    await source.check();
    return { model, outputs, fingerprint: await source.fingerprint(), passthroughTypes: await source.passthroughTypes() };
  } finally {
    await source.close();
  }
}

/**
 * Check spec, model and source against each other, make sure the ledger and the result table exist:
 * what creating or resuming a run needs, inline or queued.
 */
export async function readyRun(
  client: pg.Client | Promise<pg.Client>,
  opts: { spec: JobSpec; logicalDate: string; trigger: RunTrigger; databaseUrl: string; root?: string; scheduledFor?: string; interval?: DataInterval },
): Promise<{ want: NewRun; outputs: OutputColumn[] }> {
  const { spec } = opts;
  const root = opts.root ?? projectRoot(spec.specPath);
  const interval = opts.interval ?? dateInterval(spec.schedule, opts.logicalDate);
  const { model, outputs, fingerprint, passthroughTypes } = await checkJob(spec, opts.logicalDate, opts.databaseUrl, interval);
  trace('prepare: checked');
  client = await client; // a connection still being opened while the job was checked
  await migrate(client);
  await ensureResultTable(client, spec, resultColumns(spec, outputs, passthroughTypes));
  trace('prepare: migrated');
  const stored = portableSpec(spec, root);
  const want: NewRun = {
    job: spec.name,
    logicalDate: opts.logicalDate,
    trigger: opts.trigger,
    modelPath: stored.model.path,
    modelVersion: model.version,
    modelSha256: model.sha256,
    resultTable: `${spec.sink.schema}.${spec.sink.table}`,
    source: spec.source.kind,
    sourceFingerprint: fingerprint,
    spec: stored,
    projectRoot: root,
    scheduledFor: opts.scheduledFor ?? null,
    dataInterval: interval,
  };
  return { want, outputs };
}

/**
 * Check everything, make sure the ledger and result table exist, then claim the run: resume the
 * unfinished run of the same job, date, model and input (resume by default), or plan a new one.
 */
export async function prepareRun(opts: PrepareOptions): Promise<PreparedRun> {
  const { spec } = opts;
  const owner = opts.owner ?? inlineOwner();
  trace('prepare: start');
  // The owner's connection opens while spec, model and source are checked (a small run's start-up).
  const connecting = connectPg(opts.databaseUrl, { purpose: 'run owner', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  connecting.catch(() => undefined); // a failure surfaces where it is awaited, after the check
  // The planner's too (a new run plans on it; a resumed one closes it unused).
  let plannerConnecting: Promise<pg.Client> | undefined = connectPg(opts.databaseUrl, { purpose: 'plan', queryTimeoutMs: defaults.dbQueryTimeoutMs });
  plannerConnecting.catch(() => undefined);
  const dropPlanner = async () => {
    const p = plannerConnecting;
    plannerConnecting = undefined;
    await p?.then((c) => c.end()).catch(() => undefined);
  };
  let ready: Awaited<ReturnType<typeof readyRun>>;
  try {
    ready = await readyRun(connecting, opts);
  } catch (err) {
    // the check failed first: the connections, if they opened, are not needed
    await Promise.all([connecting.then((c) => c.end()).catch(() => undefined), dropPlanner()]);
    throw err;
  }
  const client = await connecting;
  try {
    const { want, outputs } = ready;
    let claim = await claimRun(client, want, { owner, fresh: opts.fresh });
    // A resumed run reads the interval it was planned with (a manual run may resume a scheduled one).
    const source = () => openSource(spec, opts.logicalDate, { databaseUrl: opts.databaseUrl, interval: claim.run.dataInterval ?? want.dataInterval ?? undefined });
    if (claim.resumed) {
      // A run cut short mid-plan resumes when planning again gives the same first chunks (a CSV's
      // fingerprint pins its bytes; a query's rows may have changed): otherwise a new run starts.
      const chunksTotal = claim.run.planned ? claim.run.chunksTotal : await replan(client, claim.run.runId, source(), opts.planSignal);
      if (chunksTotal !== undefined) {
        await dropPlanner();
        const pending = await pendingChunks(client, claim.run.runId);
        return {
          ...claim,
          run: { ...claim.run, planned: true, chunksTotal },
          ownerClient: client,
          outputs,
          feed: ChunkFeed.of(pending),
          pendingChunks: pending.length,
          planned: Promise.resolve({ chunks: chunksTotal }),
          closePlanner: async () => undefined,
        };
      }
      await client.query(`UPDATE batchinfer.runs SET status = 'failed', finished_at = now(), error = 'abandoned: its input changed while it was being planned; a new run replaces it' WHERE run_id = $1`, [claim.run.runId]);
      await releaseRun(client, claim.run.runId);
      claim = { ...(await claimRun(client, want, { owner, fresh: true })), note: `run ${claim.run.runId} was cut short while planning and its input changed since: a new run replaces it` };
    }
    const feed = new ChunkFeed();
    const planner = await plannerConnecting!;
    const plannerSource = source();
    // A Postgres source is planned and read in one exported snapshot, held by the planner's source until
    // the run ends: every chunk reads the rows the plan counted, whatever is written meanwhile.
    let snapshot: string | undefined;
    if (plannerSource instanceof PostgresSource) {
      snapshot = await plannerSource.exportSnapshot();
      await setSourceSnapshot(client, claim.run.runId, snapshot);
    }
    const planned = planInBackground(planner, plannerSource, claim.run.runId, feed, opts.planSignal, snapshot !== undefined);
    plannerConnecting = undefined; // planInBackground closes it
    planned.catch(() => undefined); // the caller awaits it after scoring; not an unhandled rejection meanwhile
    return { ...claim, run: { ...claim.run, sourceSnapshot: snapshot ?? null }, ownerClient: client, outputs, feed, planned, closePlanner: () => plannerSource.close() };
  } catch (err) {
    await Promise.all([client.end().catch(() => undefined), dropPlanner()]);
    throw err;
  }
}

/** Plan a run again and add the chunks it lacks; undefined (nothing changed) when the input no longer gives its stored chunks. */
export async function replan(client: pg.Client, runId: number, source: Source, signal: AbortSignal | undefined): Promise<number | undefined> {
  try {
    const all = await source.plan({ signal });
    if (!(await planExtends(client, runId, all))) return undefined;
    await addChunks(client, runId, all);
    await planDone(client, runId, all.length);
    return all.length;
  } finally {
    await source.close();
  }
}

/**
 * Plan the run on `client`: chunks go to the ledger, then to the feed, as the source finds them; the
 * run is marked planned at the end. Closes the connection, and the source unless it holds the run's snapshot.
 */
function planInBackground(client: pg.Client, source: Source, runId: number, feed: ChunkFeed, signal: AbortSignal | undefined, keepSourceOpen = false): Promise<PlanSummary> {
  let handed = 0;
  let inserting: Promise<void> = Promise.resolve();
  /**
   * Chunks the planner asks to score after the others (ChunkRange.scoreLast), fed once the plan is done;
   * at most 2 + a quarter of the chunks planned so far are held (more go to the feed as they come): the
   * threads never wait for the whole plan because most chunks asked to be last.
   */
  const last: number[] = [];
  const add = (chunks: ChunkRange[]) => {
    handed += chunks.length;
    const planned = handed;
    inserting = inserting.then(async () => {
      await addChunks(client, runId, chunks);
      const now: number[] = [];
      for (const c of chunks) (c.scoreLast && last.length < 2 + Math.floor(planned / 4) ? last : now).push(c.chunk);
      feed.push(now);
    });
    inserting.catch(() => undefined); // surfaces at the `await inserting` below
  };
  return (async () => {
    try {
      const chunks = await source.plan({ onChunks: add, signal });
      trace('prepare: planned');
      if (chunks.length > handed) add(chunks.slice(handed));
      await inserting;
      feed.push(last);
      await planDone(client, runId, chunks.length);
      feed.end();
      const known = chunks.every((c) => c.plannedRows !== undefined);
      return { chunks: chunks.length, plannedRows: known ? chunks.reduce((n, c) => n + c.plannedRows!, 0) : undefined };
    } catch (err) {
      const reason = signal?.aborted ? (signal.reason as Error) : (err as Error); // stopped, not failed
      feed.end(reason);
      throw reason;
    } finally {
      if (!keepSourceOpen) await source.close().catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  })();
}

import pg from 'pg';
import { describeModelFile } from '../model/model-file.js';
import { getSession } from '../model/session-cache.js';
import { checkSignature, readSignature, type OutputColumn } from '../model/signature.js';
import { migrate } from '../runs/migrations.js';
import { createRun, findResumableRun, markRunning, pendingChunks, type RunRecord, type RunTrigger } from '../runs/ledger.js';
import { ensureResultTable, resultColumns } from '../sink/result-table.js';
import { openSource } from '../sources/open-source.js';
import type { JobSpec } from '../spec/job-spec.js';
import { trace } from '../trace.js';

export interface PrepareOptions {
  spec: JobSpec;
  logicalDate: string;
  trigger: RunTrigger;
  databaseUrl: string;
  /** start a new run even when an unfinished one for the same date could be resumed */
  fresh?: boolean;
}

export interface PreparedRun {
  run: RunRecord;
  /** chunks still to process */
  pending: number[];
  resumed: boolean;
  outputs: OutputColumn[];
  /** rows the planner counted in the pending chunks, when it knows (for the ETA) */
  plannedRows?: number;
}

/** Model, spec and source checked against each other before any row is read. */
export async function checkJob(spec: JobSpec, logicalDate: string, databaseUrl: string) {
  const model = await describeModelFile(spec.model.path, spec.model.version, `${spec.specLabel}: model.path`);
  const outputs = checkSignature(spec, readSignature(await getSession(model.path)));
  const source = openSource(spec, logicalDate, { databaseUrl });
  try {
    await source.check();
    return { model, outputs, fingerprint: await source.fingerprint() };
  } finally {
    await source.close();
  }
}

/**
 * Check everything, make sure the ledger and result table exist, then resume the unfinished run of
 * the same job, date, model and input (resume by default), or plan a new one.
 */
export async function prepareRun(opts: PrepareOptions): Promise<PreparedRun> {
  const { spec } = opts;
  trace('prepare: start');
  const { model, outputs, fingerprint } = await checkJob(spec, opts.logicalDate, opts.databaseUrl);
  trace('prepare: checked');
  const client = new pg.Client({ connectionString: opts.databaseUrl, application_name: 'batchinfer plan' });
  await client.connect();
  try {
    await migrate(client);
    await ensureResultTable(client, spec, resultColumns(spec, outputs));
    trace('prepare: migrated');
    const newRun = {
      job: spec.name,
      logicalDate: opts.logicalDate,
      trigger: opts.trigger,
      modelPath: model.path,
      modelVersion: model.version,
      modelSha256: model.sha256,
      resultTable: `${spec.sink.schema}.${spec.sink.table}`,
      source: spec.source.kind,
      sourceFingerprint: fingerprint,
      spec,
    };
    const previous = opts.fresh ? undefined : await findResumableRun(client, newRun);
    if (previous) {
      await markRunning(client, previous.runId);
      return { run: { ...previous, status: 'running' }, pending: await pendingChunks(client, previous.runId), resumed: true, outputs };
    }
    const source = openSource(spec, opts.logicalDate, { databaseUrl: opts.databaseUrl });
    try {
      const chunks = await source.plan();
      trace('prepare: planned');
      const run = await createRun(client, newRun, chunks);
      trace('prepare: run created');
      const known = chunks.every((c) => c.plannedRows !== undefined);
      return { run, pending: chunks.map((c) => c.chunk), resumed: false, outputs, plannedRows: known ? chunks.reduce((n, c) => n + c.plannedRows!, 0) : undefined };
    } finally {
      await source.close();
    }
  } finally {
    await client.end();
  }
}

import type { QueueBackend as QueueBackendKind } from '../queue/chunk-queue.js';
import type pg from 'pg';
import { connectPg } from '../db/connect.js';
import { defaults } from '../defaults.js';
import { enqueueRun } from '../queue/enqueue-run.js';
import { migrate } from '../runs/migrations.js';
import { lastHandledTick, recordTickError } from '../runs/schedule-ledger.js';
import type { SchedulerBackend, Tick, TickOutcome } from './scheduler.js';

/**
 * Ticks for the queue: the tick's run is created once in the ledger (whichever replica comes first),
 * planned, and its chunks are queued for `batchinfer worker`s with job ids from run and chunk; the
 * workers finish it. Queued runs are the workers' to finish, so stopping leaves them alone.
 */
export class QueueBackend implements SchedulerBackend {
  private client?: pg.Client;
  private serial: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: { databaseUrl: string; queue: QueueBackendKind; queueName?: string }) {}

  async lastHandledTick(job: string): Promise<number | undefined> {
    return this.withLedger((c) => lastHandledTick(c, job));
  }

  async submit(tick: Tick): Promise<TickOutcome> {
    const { spec } = tick.job;
    const q = await enqueueRun({
      spec,
      logicalDate: tick.logicalDate,
      trigger: 'schedule',
      databaseUrl: this.opts.databaseUrl,
      queue: this.opts.queue,
      queueName: this.opts.queueName,
      interval: tick.interval,
      tick: { scheduledFor: tick.scheduledFor, overlap: spec.schedule.overlap, catchUp: tick.catchUp },
    });
    if (q.status === 'exists') return { action: 'exists', runId: q.run_id, why: q.why ?? 'created already' };
    if (q.status === 'skipped') return { action: 'skipped', blockedBy: q.run_id, why: q.why ?? 'overlap' };
    return { action: 'created', runId: q.run_id, note: [`${q.chunks_queued} of ${q.chunks_total} chunks queued`, q.note].filter(Boolean).join('; ') };
  }

  async recordError(tick: Tick, error: string): Promise<void> {
    await this.withLedger((c) => recordTickError(c, tick.job.spec.name, tick.scheduledFor, error));
  }

  async resumeUnfinished(): Promise<number[]> {
    return [];
  }

  async close(): Promise<void> {
    await this.serial;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private withLedger<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const run = this.serial.then(async () => fn(await this.ledger()));
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async ledger(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = await connectPg(this.opts.databaseUrl, { purpose: 'scheduler', queryTimeoutMs: defaults.dbQueryTimeoutMs });
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
    });
    try {
      await migrate(client);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return client;
  }
}

import http from 'node:http';
import client from 'prom-client';
import type { Queue } from 'bullmq';
import type { ChunkJobData } from './chunk-queue.js';
import { registerJobGauges, type Queryable } from '../monitoring/job-gauges.js';

/** A worker's Prometheus metrics: rows, chunk durations, chunks in flight, queue jobs by state, process metrics. */
export class WorkerMetrics {
  readonly registry = new client.Registry();
  readonly rowsScored = new client.Counter({ name: 'batchinfer_rows_scored_total', help: 'rows scored and committed', labelNames: ['job'], registers: [this.registry] });
  readonly rowsRejected = new client.Counter({ name: 'batchinfer_rows_rejected_total', help: 'rows rejected (kept in batchinfer.rejects)', labelNames: ['job'], registers: [this.registry] });
  readonly chunkSeconds = new client.Histogram({
    name: 'batchinfer_chunk_duration_seconds',
    help: 'wall time of a chunk, from taken to committed or failed',
    labelNames: ['job', 'outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly inFlight = new client.Gauge({ name: 'batchinfer_chunks_in_flight', help: 'chunks this worker is scoring now', registers: [this.registry] });
  readonly chunksFailed = new client.Counter({ name: 'batchinfer_chunk_failures_total', help: 'chunk attempts that failed', labelNames: ['job', 'final'], registers: [this.registry] });

  /** ledger: the results database, for the per-job gauges of each job's last run (see registerJobGauges) */
  constructor(queue?: Queue<ChunkJobData>, ledger?: Queryable) {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'batchinfer_worker_' });
    if (ledger) registerJobGauges(this.registry, ledger);
    if (queue) {
      new client.Gauge({
        name: 'batchinfer_queue_jobs',
        help: 'chunk jobs in the queue by state',
        labelNames: ['state'],
        registers: [this.registry],
        async collect() {
          const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized').catch(() => ({}) as Record<string, number>);
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      });
    }
  }

  /** Serve /metrics on 127.0.0.1 (or host) and port; resolves once listening. */
  serve(port: number, host = '0.0.0.0'): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found: try /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}

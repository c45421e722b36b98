import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { buildFeeds, feedInputs } from '../model/feeds.js';
import type { OutputColumn } from '../model/signature.js';
import type { ChunkRange, Source } from '../sources/source.js';
import type { JobSpec } from '../spec/job-spec.js';
import { ChunkProfiler, numericOutputTypes, type ProfilePlan } from './chunk-profiler.js';
import { columnKey, type ColumnProfile, type ProfileRole } from './column-profile.js';

/** The columns a run profiles: every input column, every numeric output. */
export function profiledColumns(spec: JobSpec, outputs: OutputColumn[]): { role: ProfileRole; column: string }[] {
  return [
    ...spec.inputs.flatMap((i) => i.columns.map((column) => ({ role: 'input' as const, column }))),
    ...profiledOutputs(outputs).map((o) => ({ role: 'output' as const, column: o.column })),
  ];
}

export const profiledOutputs = (outputs: OutputColumn[]) => outputs.filter((o) => numericOutputTypes.has(o.type));

/** A profile plan with each column's edges from `edgesOf` (role, column). */
export function planWith(spec: JobSpec, outputs: OutputColumn[], edgesOf: (role: ProfileRole, column: string) => number[]): ProfilePlan {
  return {
    inputs: spec.inputs.map((i) => ({ columns: i.columns, edges: i.columns.map((c) => edgesOf('input', c)) })),
    outputs: profiledOutputs(outputs).map((o) => ({ column: o.column, output: o.output, index: o.index ?? 0, edges: edgesOf('output', o.column) })),
  };
}

/**
 * Score rows of `chunks` (no writes) and profile them over `plan`'s edges, at most `maxRowsPerChunk`
 * scorable rows of each: a sample of a run's chunks, or a whole baseline file.
 */
export async function profileRows(
  source: Source,
  session: InferenceSession,
  spec: JobSpec,
  plan: ProfilePlan,
  chunks: ChunkRange[],
  opts: { /** scorable rows read at most from each chunk */ maxRowsPerChunk?: number; signal?: AbortSignal; snapshot?: string } = {},
): Promise<Map<string, ColumnProfile>> {
  const profiler = new ChunkProfiler(plan);
  const fetches = [...new Set(plan.outputs.map((o) => o.output))];
  const inputs = feedInputs(spec, session);
  for (const chunk of chunks) {
    let rows = 0;
    for await (const batch of source.read(chunk, { signal: opts.signal, snapshot: opts.snapshot })) {
      if (batch.n === 0) continue;
      const { feeds } = buildFeeds(inputs, batch, batch.n);
      const results = fetches.length ? ((await session.run(feeds, fetches)) as Record<string, Tensor>) : {};
      profiler.addBatch(batch, results);
      rows += batch.n;
      if (opts.maxRowsPerChunk !== undefined && rows >= opts.maxRowsPerChunk) break;
    }
  }
  return new Map(profiler.profiles().map((p) => [columnKey(p.role, p.column), p]));
}

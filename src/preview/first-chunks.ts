import type { ChunkRange, Source } from '../sources/source.js';

/**
 * A source's chunks in order, as its planner finds them, without waiting for the whole plan: a preview
 * needs only the first rows of a file or query of any size. Leaving the loop early stops the planner
 * (its abort error is swallowed; any other planning error is thrown).
 */
export async function* firstChunks(source: Source, signal?: AbortSignal): AsyncGenerator<ChunkRange> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const found: ChunkRange[] = [];
  let handed = 0;
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: unknown;
  const planning = source
    .plan({
      onChunks: (chunks) => {
        handed += chunks.length;
        found.push(...chunks);
        wake?.();
      },
      signal: stop.signal,
    })
    .then(
      (all) => {
        found.push(...all.slice(handed)); // a planner may return chunks it never handed out
        ended = true;
      },
      (err: unknown) => {
        if (!stop.signal.aborted || signal?.aborted) failure = err;
        ended = true;
      },
    )
    .finally(() => wake?.());
  try {
    for (let next = 0; ; ) {
      if (next < found.length) {
        yield found[next++];
        continue;
      }
      if (ended) {
        if (failure !== undefined) throw failure;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop.abort(new Error('preview: enough rows'));
    await planning;
  }
}

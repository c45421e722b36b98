/**
 * The chunks of a run for the executor to take, one at a time: all at once when a run resumes, or as
 * the planner finds them (and the ledger holds them) for a new run, so scoring starts before
 * planning ends.
 */
export class ChunkFeed {
  private readonly queue: number[] = [];
  private readonly waiting: { resolve(chunk: number | undefined): void; reject(err: Error): void }[] = [];
  private ended = false;
  private error: Error | undefined;

  static of(chunks: number[]): ChunkFeed {
    const feed = new ChunkFeed();
    feed.push(chunks);
    feed.end();
    return feed;
  }

  push(chunks: number[]): void {
    for (const c of chunks) {
      const w = this.waiting.shift();
      if (w) w.resolve(c);
      else this.queue.push(c);
    }
  }

  /** No more chunks; with an error (planning failed), every later next() throws it. */
  end(error?: Error): void {
    this.ended = true;
    this.error = error;
    for (const w of this.waiting.splice(0)) {
      if (error) w.reject(error);
      else w.resolve(undefined);
    }
  }

  /** The next chunk, waiting for the planner if need be; undefined once there are no more. */
  next(): Promise<number | undefined> {
    if (this.error) return Promise.reject(this.error);
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
}

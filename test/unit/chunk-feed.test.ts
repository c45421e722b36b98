import { describe, expect, it } from 'vitest';
import { ChunkFeed } from '../../src/execute/chunk-feed.js';

describe('ChunkFeed', () => {
  it('hands chunks out in order, to waiting takers as they arrive, then undefined once ended', async () => {
    const feed = new ChunkFeed();
    const early = [feed.next(), feed.next()]; // two threads waiting for the planner
    feed.push([0, 1, 2]);
    expect(await Promise.all(early)).toEqual([0, 1]);
    expect(await feed.next()).toBe(2);
    const waiting = feed.next(); // nothing queued: waits for the planner
    feed.end();
    expect(await waiting).toBe(undefined);
    expect(await feed.next()).toBe(undefined);
  });

  it('a planning failure reaches every taker, waiting or later, even with chunks still queued', async () => {
    const feed = new ChunkFeed();
    const waiting = feed.next();
    feed.end(new Error('planning failed: boom'));
    await expect(waiting).rejects.toThrow('boom');
    const queued = new ChunkFeed();
    queued.push([5]);
    queued.end(new Error('stopped'));
    await expect(queued.next()).rejects.toThrow('stopped');
  });

  it('of() is a finished feed of a resumed run\'s pending chunks', async () => {
    const feed = ChunkFeed.of([3, 7]);
    expect([await feed.next(), await feed.next(), await feed.next()]).toEqual([3, 7, undefined]);
  });
});

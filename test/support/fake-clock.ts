import type { Clock } from '../../src/scheduler/clock.js';

/**
 * A clock tests move by hand. advanceTo() steps from timer to timer (each fires with now() at its own
 * time: a process awake all along); jumpTo() moves at once and fires what came due late (a process
 * that was suspended, or a clock that jumped).
 */
export class FakeClock implements Clock {
  private timers: { time: number; fn: () => void; seq: number }[] = [];
  private seq = 0;

  constructor(private t: number) {}

  now(): number {
    return this.t;
  }

  at(time: number, fn: () => void): { cancel(): void } {
    const timer = { time, fn, seq: this.seq++ };
    this.timers.push(timer);
    return { cancel: () => (this.timers = this.timers.filter((x) => x !== timer)) };
  }

  /** the earliest pending timer's time */
  nextTimer(): number | undefined {
    return this.timers.length ? Math.min(...this.timers.map((x) => x.time)) : undefined;
  }

  /** Move to `target`, firing each timer due on the way at its own time; `settle` runs after each (await the scheduler's idle). */
  async advanceTo(target: number, settle: () => Promise<void> = async () => undefined): Promise<void> {
    for (;;) {
      const due = this.timers.filter((x) => x.time <= target).sort((a, b) => a.time - b.time || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.time);
      due.fn();
      await settle();
    }
    this.t = Math.max(this.t, target);
  }

  /** Move to `target` at once and fire every timer now due, late. */
  async jumpTo(target: number, settle: () => Promise<void> = async () => undefined): Promise<void> {
    this.t = target;
    await this.advanceTo(target, settle);
  }
}

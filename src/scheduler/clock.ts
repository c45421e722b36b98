/** Time as the scheduler sees it: injected, so tests move it by hand instead of waiting. */
export interface Clock {
  /** epoch ms */
  now(): number;
  /** call fn once the clock reads `time` or later; cancel() drops it */
  at(time: number, fn: () => void): { cancel(): void };
}

/** setTimeout takes at most this many ms (about 24.8 days); longer waits are re-armed. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The real clock. A timer can fire a little early, and a machine can sleep through a timer: so on
 * firing it looks at the clock again and waits on if it is still early.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  at(time, fn) {
    let timer: NodeJS.Timeout | undefined;
    let cancelled = false;
    const delay = () => Math.max(0, Math.min(time - Date.now(), MAX_TIMEOUT_MS));
    const fire = () => {
      if (cancelled) return;
      if (Date.now() < time) timer = setTimeout(fire, delay());
      else fn();
    };
    timer = setTimeout(fire, delay());
    return {
      cancel() {
        cancelled = true;
        clearTimeout(timer);
      },
    };
  },
};

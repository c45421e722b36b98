import { Writable } from 'node:stream';
import { pino, type DestinationStream } from 'pino';

/**
 * One structured event per line through pino: JSON (for log shippers) by default; on a terminal a
 * readable line (`12:00:01 chunk done run=4 chunk=2 rows=50000 ms=310`).
 */
export function eventLogger(out: NodeJS.WritableStream & { isTTY?: boolean }): (event: Record<string, unknown>) => void {
  // A log reader that went away (a closed pipe) must not take the worker down with an EPIPE.
  out.on('error', () => undefined);
  const dest = out.isTTY ? readable(out) : out;
  const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'event', formatters: { level: (label) => ({ level: label }) } }, dest as DestinationStream);
  return (e) => {
    const { event, ...rest } = e;
    // a scheduler's tick that could not create its run is one line of event "tick" with action "error"
    const bad = /failed|error|stalled/.test(String(event)) || rest.action === 'error';
    if (bad) logger.warn(rest, String(event));
    else logger.info(rest, String(event));
  };
}

function readable(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        try {
          const { time, level, event, ...rest } = JSON.parse(line) as Record<string, unknown>;
          const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`);
          out.write(`${String(time).slice(11, 19)} ${level === 'warn' ? '! ' : ''}${String(event)} ${fields.join(' ')}\n`);
        } catch {
          out.write(line + '\n');
        }
      }
      done();
    },
  });
}

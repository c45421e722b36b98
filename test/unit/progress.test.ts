import { describe, expect, it } from 'vitest';
import { ProgressLine } from '../../src/cli/progress.js';
import { runSummary } from '../../src/cli/run-summary.js';

const tty = (columns: number) => ({ isTTY: true, columns, write: () => true }) as unknown as NodeJS.WritableStream & { isTTY: boolean; columns: number };

describe('progress line', () => {
  it('rows/s over the last few seconds, not since the start: a slow start does not stretch the ETA', () => {
    const p = new ProgressLine(tty(120));
    const t0 = Date.now();
    p.start();
    p.setTotal(1_000_000);
    p.line(t0 + 4000); // four slow seconds (start-up, planning): nothing read
    p.add(500_000);
    const l = p.line(t0 + 5000); // then 500,000 rows in one second
    expect(l).toMatch(/^500,000\/1,000,000 rows {2}\d{1,3}(,\d{3})* rows\/s {2}eta \ds$/);
    const rate = Number(/ ([\d,]+) rows\/s/.exec(l)![1].replaceAll(',', ''));
    expect(rate).toBeGreaterThan(150_000); // since the start it would be 100,000/s and an ETA of 5 s
    expect(Number(/eta (\d+)s/.exec(l)![1])).toBeLessThanOrEqual(3);
  });

  it('fits a narrow terminal on one line', () => {
    const p = new ProgressLine(tty(40));
    p.start();
    p.setTotal(123_456_789);
    p.add(98_765_432);
    const l = p.line(Date.now() + 1000);
    expect(l.length).toBeLessThan(40);
  });

  it('the summary line formats its numbers as the progress line does (thousands separators), its rate from this attempt\'s rows', () => {
    const o = { run_id: 7, status: 'succeeded' as const, rows_read: 1_234_567, rows_scored: 1_234_000, rows_rejected: 567, duration_s: 2.5 };
    expect(runSummary(o, 1_000_000)).toBe('run 7 succeeded: 1,234,567 rows read, 1,234,000 scored, 567 rejected in 2.5s (400,000 rows/s)');
    expect(runSummary(o)).toBe('run 7 succeeded: 1,234,567 rows read, 1,234,000 scored, 567 rejected');
    expect(runSummary({ ...o, duration_s: 0.254 }, 178)).toMatch(/ in 0\.3s \(/);
    expect(runSummary({ ...o, duration_s: 125.4 }, 178)).toMatch(/ in 2m 05s \(/);
    expect(runSummary({ ...o, rows_read: 0, rows_scored: 0, rows_rejected: 0, duration_s: 0 }, 0)).toBe('run 7 succeeded: 0 rows read, 0 scored, 0 rejected in 0s (0 rows/s)');
    // the progress line and the summary agree on how a number looks
    const p = new ProgressLine(tty(120));
    p.start();
    p.add(1_234_567);
    expect(p.line(Date.now() + 1000)).toMatch(/^1,234,567 rows /);
  });
});

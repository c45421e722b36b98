import { describe, expect, it } from 'vitest';
import { ProgressLine } from '../../src/cli/progress.js';

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
});

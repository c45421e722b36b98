/** A live progress line on a TTY: rows, rows/s over the last few seconds, ETA. Silent elsewhere. */
export class ProgressLine {
  /** rows read by this attempt (a resumed run's earlier rows are not here) */
  rows = 0;
  private total: number | undefined;
  private timer?: NodeJS.Timeout;
  /** recent (time, rows) samples: the rate is taken over WINDOW_MS, not since the start (start-up and planning would skew it) */
  private readonly samples: { t: number; rows: number }[] = [];
  private static readonly WINDOW_MS = 3000;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }) {}

  start(): void {
    this.samples.push({ t: Date.now(), rows: 0 });
    if (this.out.isTTY) this.timer = setInterval(() => this.draw(), 250);
  }

  /** rows the whole run reads, once planning knows (for the ETA) */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  add(rows: number): void {
    this.rows += rows;
  }

  /** The line as drawn now (exposed for tests): fits the terminal's width, numbers formatted as in the summary. */
  line(now = Date.now()): string {
    this.samples.push({ t: now, rows: this.rows });
    while (this.samples.length > 2 && now - this.samples[0].t > ProgressLine.WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const sec = (now - first.t) / 1000;
    const rate = sec > 0 ? (this.rows - first.rows) / sec : 0;
    const eta = this.total && rate > 0 ? `  eta ${Math.max(0, Math.round((this.total - this.rows) / rate))}s` : '';
    const of = this.total ? `/${fmt(this.total)}` : '';
    const text = `${fmt(this.rows)}${of} rows  ${fmt(Math.round(rate))} rows/s${eta}`;
    const width = this.out.columns ?? 80;
    return text.length < width ? text : text.slice(0, Math.max(1, width - 1)); // never wrap: one line, redrawn in place
  }

  private draw(): void {
    this.out.write(`\r\x1b[K${this.line()}`);
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.out.write('\r\x1b[K');
    }
  }
}

/** Numbers as the run's summary prints them: thousands separators. */
export const fmt = (n: number) => n.toLocaleString('en-US');

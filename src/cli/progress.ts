/** A live progress line on a TTY: rows, rows/s, ETA. Silent elsewhere. */
export class ProgressLine {
  /** rows read by this attempt (a resumed run's earlier rows are not here) */
  rows = 0;
  private total: number | undefined;
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }) {}

  start(): void {
    if (this.out.isTTY) this.timer = setInterval(() => this.draw(), 250);
  }

  /** rows the whole run reads, once planning knows (for the ETA) */
  setTotal(total: number | undefined): void {
    this.total = total;
  }

  add(rows: number): void {
    this.rows += rows;
  }

  private draw(): void {
    const sec = (Date.now() - this.started) / 1000;
    const rate = sec > 0 ? this.rows / sec : 0;
    const eta = this.total && rate > 0 ? ` eta ${Math.max(0, Math.round((this.total - this.rows) / rate))}s` : '';
    const of = this.total ? `/${this.total.toLocaleString('en-US')}` : '';
    this.out.write(`\r\x1b[K${this.rows.toLocaleString('en-US')}${of} rows  ${Math.round(rate).toLocaleString('en-US')} rows/s${eta}`);
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.out.write('\r\x1b[K');
    }
  }
}

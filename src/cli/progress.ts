/**
 * Progress on stderr, so stdout stays clean for results. On a terminal one line is redrawn in
 * place; otherwise (a log file, CI) a line is printed at most every few seconds.
 */

export class Progress {
  /** Off a terminal, the first line waits a few seconds too: quick work prints nothing. */
  private lastPrint = Date.now();
  private drawn = false;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  update(message: string): void {
    if (this.quiet) return;
    const now = Date.now();
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${this.label}: ${message}`);
      this.drawn = true;
    } else if (now - this.lastPrint >= 5000) {
      this.stream.write(`${this.label}: ${message}\n`);
      this.lastPrint = now;
    }
  }

  done(message?: string): void {
    if (this.quiet) return;
    if (this.tty && this.drawn) this.stream.write('\r\x1b[2K');
    if (message) this.stream.write(`${this.label}: ${message}\n`);
    this.drawn = false;
  }
}

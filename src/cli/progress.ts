/**
 * Progress on stderr, so stdout stays clean for results. On a terminal one line is redrawn in
 * place; otherwise (a log file, CI) a line is printed at most every few seconds.
 */

/** Where the CLI writes: a function of the text, which may say that it writes to a terminal. */
export type Writer = ((s: string) => void) & { readonly isTTY?: boolean };

export class Progress {
  /** Off a terminal, the first line waits a few seconds too: quick work prints nothing. */
  private lastPrint = Date.now();
  private drawn = false;
  private readonly tty: boolean;

  /** `write`: the command's stderr (main() passes process.stderr's, tests their own). */
  constructor(
    private readonly label: string,
    private readonly write: Writer,
  ) {
    this.tty = Boolean(write.isTTY);
  }

  update(message: string): void {
    const now = Date.now();
    if (this.tty) {
      this.write(`\r\x1b[2K${this.label}: ${message}`);
      this.drawn = true;
    } else if (now - this.lastPrint >= 5000) {
      this.write(`${this.label}: ${message}\n`);
      this.lastPrint = now;
    }
  }

  done(message?: string): void {
    if (this.tty && this.drawn) this.write('\r\x1b[2K');
    if (message) this.write(`${this.label}: ${message}\n`);
    this.drawn = false;
  }
}

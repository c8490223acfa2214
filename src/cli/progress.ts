// What `codexec run` shows on stderr while it waits: a spinner on a terminal it can draw on,
// otherwise one line per state. A terminal that reports no width (`script -qc`, some CI jobs and
// IDE consoles say 0 columns) gets lines: ora divides by the width to know how many lines to
// erase, and with 0 it loops forever writing escape codes.

/** Narrowest terminal the spinner line is drawn on. */
const MIN_SPINNER_COLUMNS = 20;

export function spinnerUsable(stream: { isTTY?: boolean; columns?: number }): boolean {
  return stream.isTTY === true && Number.isFinite(stream.columns) && (stream.columns ?? 0) >= MIN_SPINNER_COLUMNS;
}

export interface Progress {
  /** The execution's current status and the seconds waited so far. */
  update(status: string, elapsedSeconds: number): void;
  stop(): void;
}

type Ora = typeof import('ora').default;

export function createProgress(id: string, opts: { show: boolean; stream: NodeJS.WriteStream; ora: Ora }): Progress {
  if (!opts.show) return { update() {}, stop() {} };
  if (spinnerUsable(opts.stream)) {
    // discardStdin: false: ora would otherwise put stdin in raw mode, and Ctrl-C would no longer
    // be a SIGINT.
    const spinner = opts.ora({ stream: opts.stream, text: `QUEUED  ${id}`, discardStdin: false }).start();
    return {
      update: (status, elapsed) => {
        spinner.text = `${status} ${elapsed.toFixed(1)}s  ${id}`;
      },
      stop: () => {
        spinner.stop();
      },
    };
  }
  let last = '';
  return {
    update: (status) => {
      if (status === last) return;
      last = status;
      opts.stream.write(`${status} ${id}\n`);
    },
    stop() {},
  };
}

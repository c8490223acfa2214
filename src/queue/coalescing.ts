/**
 * `task` made safe to call on every wake: runs never overlap, and calls that arrive while it runs
 * make it run once more after the current run (wakes coalesce). Errors go to `onError`; `after`
 * runs each time it goes idle.
 */
export function coalescing(task: () => Promise<void>, opts: { onError?: (err: unknown) => void; after?: () => void } = {}): () => void {
  let running = false;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void (async () => {
      try {
        do {
          again = false;
          await task();
        } while (again);
      } catch (err) {
        opts.onError?.(err);
      } finally {
        running = false;
        opts.after?.();
      }
    })();
  };
}

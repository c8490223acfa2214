// Runs tasks one at a time per key, in arrival order. Keyv has no compare-and-set, so two autosaves
// (or an autosave and a run) of one session that interleaved their get and set could lose the
// newer code; chaining them per session id in this process makes each read-modify-write atomic.
// It serializes within one process only: every session write goes through the API process.
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    // A failed task must not fail the next one: the tail settles either way and never rejects.
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // The last task of a key removes its entry, so the map holds only keys with work pending.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a task queued or running (for tests and diagnostics). */
  get size(): number {
    return this.tails.size;
  }
}

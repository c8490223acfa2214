// A "watch" event can reach an executor just before the claim that returns its job (PostgreSQL
// delivers notifications on another connection than the claim's answer): an executor remembers
// recent watches of jobs it does not run (yet) for a few seconds, bounded in number.

const REMEMBER_MS = 10_000;
const MAX_REMEMBERED = 1000;

export class EarlyWatches {
  private readonly until = new Map<string, number>();

  add(id: string, now = Date.now()): void {
    if (this.until.size >= MAX_REMEMBERED) this.until.delete(this.until.keys().next().value!);
    this.until.set(id, now + REMEMBER_MS);
  }

  /** Whether job `id` was watched lately; forgets it either way. */
  take(id: string, now = Date.now()): boolean {
    const until = this.until.get(id);
    this.until.delete(id);
    return until !== undefined && until > now;
  }
}

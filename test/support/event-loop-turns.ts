/**
 * Counts turns of the event loop from now until `stop()`: a setImmediate callback that schedules
 * itself again. Work that runs in one synchronous stretch lets none happen; work that yields
 * between its chunks lets one happen per chunk.
 */
export function countTurns(): { readonly turns: number; stop(): number } {
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop() {
      counting = false;
      return turns;
    },
  };
}

import type { Logger } from 'pino';

/**
 * SIGTERM/SIGINT run `drain` once (ordered shutdown); a second signal forces an exit. Executions
 * still running then are rescued from their expired leases by the next process to start.
 */
export function onShutdownSignals(logger: Logger, drain: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: forcing exit');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    drain().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

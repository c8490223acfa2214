import type { Command } from 'commander';
import { configOption, flagOverrides } from './options.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Run a standalone executor on the shared database (any number of them, beside `serve --executors 0`)')
    .addOption(configOption('--concurrency <n>', 'workerConcurrency'))
    .addHelpText('after', '\nExample:\n  CODEXEC_DATA_DIR=/var/lib/codexec codexec worker --concurrency 4\n')
    .action(async (opts: Record<string, unknown>) => {
      const { loadConfig } = await import('../config/load.js');
      const { createLogger } = await import('../observability/logger.js');
      const { openQueue, startExecutor } = await import('./context.js');
      const { onShutdownSignals } = await import('./shutdown.js');
      const { startupFacts, startupLine } = await import('./startup-log.js');
      const { Metrics } = await import('../observability/metrics.js');
      const { listenForMetrics } = await import('../observability/metrics-listener.js');
      const config = loadConfig(process.env, flagOverrides(opts, { concurrency: 'workerConcurrency' }));
      const logger = createLogger(config);
      const q = await openQueue(config, { role: 'worker' });
      // This worker's counts (its executions, retries, rescues, slots), served on their own port
      // when CODEXEC_WORKER_METRICS_PORT is set (API nodes only count what they run themselves);
      // none kept otherwise. Listening first: a port already taken stops the worker before it claims.
      const metrics = config.workerMetricsPort > 0 ? new Metrics() : null;
      metrics?.setExecutors(0, config.workerConcurrency);
      const metricsListener = metrics ? await listenForMetrics(metrics, config.host, config.workerMetricsPort) : null;
      const handle = await startExecutor(config, q, {
        slots: config.workerConcurrency,
        runner: 'pool',
        logger,
        hooks: metrics
          ? {
              finished: (s, r, w, m) => metrics.observeFinished(s as never, r, w, m),
              retried: () => metrics.retry(),
              rescued: (n) => metrics.rescue(n),
              busy: (b, i) => metrics.setExecutors(b, i),
            }
          : undefined,
      });
      // Workers send webhooks too, so a stack without an API node running still delivers them.
      const { WebhookDispatcher } = await import('../webhooks/dispatcher.js');
      const webhooks = config.webhookSecret ? new WebhookDispatcher({ store: q.jobs, config, logger }) : null;
      webhooks?.start();
      logger.info(
        {
          ...startupFacts('worker', config, q.languages, { isolation: handle.isolation.level, cgroupVersion: handle.isolation.cgroupVersion }),
          executor_id: handle.executor.id,
          slots: config.workerConcurrency,
          metrics: metricsListener ? `http://${metricsListener.address}/metrics` : null,
        },
        startupLine('worker', config, q.languages, handle.isolation.level),
      );
      // Everything else the worker waits on (the wake watch, housekeeping timers, idle pool
      // threads) is unref'd so that `codexec run` can exit; a worker lives until it is told to stop.
      const keepAlive = setInterval(() => {}, 1 << 30);
      onShutdownSignals(logger, async () => {
        clearInterval(keepAlive);
        const r = await handle.executor.stop(config.shutdownGraceMs);
        logger.info(r, 'worker stopped');
        await handle.close();
        await webhooks?.stop(5000);
        await metricsListener?.close();
        await q.jobs.close();
      });
    });
}

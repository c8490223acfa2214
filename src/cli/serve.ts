import type { Command } from 'commander';
import type { IsolationReport } from '../sandbox/host.js';
import { configOption, flagOverrides } from './options.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Start the HTTP API, with embedded executors (default: one per CPU)')
    .addOption(configOption('--port <port>', 'port'))
    .addOption(configOption('--host <address>', 'host'))
    .addOption(configOption('--executors <n>', 'executors'))
    .addHelpText('after', '\nExamples:\n  codexec serve\n  codexec serve --port 9000 --executors 0   # API-only node; run `codexec worker` elsewhere\n')
    .action(async (opts: Record<string, unknown>) => {
      const { loadConfig } = await import('../config/load.js');
      const { buildApp } = await import('../api/app.js');
      const { openSessionStore } = await import('../sessions/session-store.js');
      const { Metrics } = await import('../observability/metrics.js');
      const { createLogger } = await import('../observability/logger.js');
      const { openQueue, startExecutor } = await import('./context.js');
      const { onShutdownSignals } = await import('./shutdown.js');
      const { WebhookDispatcher } = await import('../webhooks/dispatcher.js');
      const { startupFacts, startupLine } = await import('./startup-log.js');
      const { ApiNodeHeartbeat, advertisedAddress } = await import('../observability/api-node-heartbeat.js');
      const { openKeyStore } = await import('../keys/key-store.js');
      const config = loadConfig(process.env, flagOverrides(opts, { port: 'port', host: 'host', executors: 'executors' }));
      const logger = createLogger(config);
      // The connections' application_name says which role holds them (pg_stat_activity).
      const role = config.executors > 0 ? 'serve' : 'serve-api';
      const q = await openQueue(config, { role });
      const sessions = await openSessionStore(config, {
        role,
        onCheckpointFailure: (err) => logger.warn({ err }, 'the sessions.db checkpoint thread failed: SQLite checkpoints inside commits from now on (slower autosaves)'),
      });
      // The API keys, in the job database (CODEXEC_AUTH=keys only).
      const keys = config.auth === 'keys' ? await openKeyStore(config, { role }) : undefined;
      if (keys && (await keys.list()).every((k) => k.revokedAt !== null)) {
        logger.warn('CODEXEC_AUTH=keys and no API key is active: every request will be refused (401); make one with `codexec keys create --name NAME`');
      }
      const metrics = new Metrics({ queueStats: () => q.jobs.stats() });
      let isolation: Pick<IsolationReport, 'cgroupVersion' | 'problems' | 'warnings'> & { level: IsolationReport['level'] | 'api_only' };
      let executorHandle: Awaited<ReturnType<typeof startExecutor>> | null = null;
      if (config.executors > 0) {
        executorHandle = await startExecutor(config, q, {
          slots: config.executors,
          runner: 'pool',
          logger,
          hooks: {
            finished: (s, r, w, m) => metrics.observeFinished(s as never, r, w, m),
            retried: () => metrics.retry(),
            rescued: (n) => metrics.rescue(n),
            busy: (b, i) => metrics.setExecutors(b, i),
          },
        });
        isolation = executorHandle.isolation;
      } else {
        // An API-only node runs nothing itself: its own host's isolation is not the stack's.
        isolation = { level: 'api_only', cgroupVersion: 'n/a', problems: [], warnings: [] };
      }
      const app = await buildApp({
        config,
        jobs: q.jobs,
        sessions,
        languages: q.languages,
        keys,
        logger,
        metrics,
        isolation: () => ({ level: isolation.level, cgroupVersion: isolation.cgroupVersion, warnings: isolation.warnings }),
      });
      await app.listen({ port: config.port, host: config.host });
      // Recorded in the queue database, so that `codexec status` lists every API node.
      const node = new ApiNodeHeartbeat({ store: q.jobs, logger, address: advertisedAddress(config.host, config.port), executors: config.executors, leaseMs: config.leaseMs });
      node.start();
      // Webhooks of finished runs (any node may send them: each delivery is claimed like a job).
      const webhooks = config.webhookSecret ? new WebhookDispatcher({ store: q.jobs, config, logger }) : null;
      webhooks?.start();
      logger.info(startupFacts('serve', config, q.languages, { isolation: isolation.level, cgroupVersion: isolation.cgroupVersion }), startupLine('serve', config, q.languages, isolation.level));
      // Expired sessions read as gone; their records are deleted hourly (on PostgreSQL any node may
      // prune, each record once), and the executors prune finished executions past the retention.
      const pruneSessions = () => void sessions.pruneExpired(Date.now()).catch((err) => logger.warn({ err }, 'session prune failed'));
      pruneSessions();
      const pruneTimer = setInterval(pruneSessions, 3600_000);
      pruneTimer.unref();

      onShutdownSignals(logger, async () => {
        logger.info('shutting down: refusing new requests, draining executions');
        app.codexec.beginShutdown();
        clearInterval(pruneTimer);
        if (executorHandle) {
          const r = await executorHandle.executor.stop(config.shutdownGraceMs);
          logger.info(r, 'executor stopped');
          await executorHandle.close();
        }
        await webhooks?.stop(5000);
        await app.close();
        await node.stop();
        await sessions.close();
        await keys?.close();
        await q.jobs.close();
      });
    });
}

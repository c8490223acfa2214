import { Counter, Gauge, type Registry } from 'prom-client';
import type { LiveHub } from './hub.js';

/** The live hub's figures in the process's metrics, read at scrape time. */
export function registerLiveMetrics(registry: Registry, hub: LiveHub): void {
  new Gauge({
    name: 'codexec_event_streams',
    help: 'Event streams (GET /executions/{id}/events) this process serves now',
    registers: [registry],
    collect() {
      this.set(hub.stats().readers);
    },
  });
  new Gauge({
    name: 'codexec_event_stream_executions',
    help: 'Executions this process streams now (one database tail each, whatever the number of readers)',
    registers: [registry],
    collect() {
      this.set(hub.stats().executions);
    },
  });
  let counted = 0;
  new Counter({
    name: 'codexec_event_streams_dropped_total',
    help: 'Event streams disconnected because their reader fell more than CODEXEC_EVENTS_READER_BUFFER_BYTES behind',
    registers: [registry],
    collect() {
      const dropped = hub.stats().dropped;
      this.inc(dropped - counted);
      counted = dropped;
    },
  });
}

// Types of the part of server.mjs that the tests import.
export interface StartedServer {
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  log: () => string;
  stop: () => Promise<void>;
}
export function startServer(opts?: {
  env?: Record<string, string>;
  executors?: number;
  startTimeoutMs?: number;
  nodeArgs?: string[];
  dataDir?: string | null;
  command?: 'serve' | 'worker';
}): Promise<StartedServer>;

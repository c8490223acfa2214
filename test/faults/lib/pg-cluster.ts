import { execFileSync } from 'node:child_process';

// A PostgreSQL cluster of a test's own, for tests that restart the server: never the cluster the
// other tests share. Debian's postgresql-common tools make it (pg_createcluster), restart it
// (pg_ctlcluster restart -m fast: what a real restart does to clients, backends terminated with
// 57P01) and drop it. Needs root and the same major version as the shared cluster.

const NAME = 'codexecfaults';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sql(port: number, statement: string): void {
  run('su', ['postgres', '-c', `psql -q -p ${port} -v ON_ERROR_STOP=1 -c ${JSON.stringify(statement)}`]);
}

export interface OwnPostgres {
  url: string;
  port: number;
  /** A fast restart (every backend is terminated). */
  restart(): void;
  drop(): void;
}

/** null when Debian's cluster tools are not installed (the test then says so and fails in CI). */
export function createOwnPostgres(port: number): OwnPostgres | null {
  let version: string;
  try {
    version = run('pg_lsclusters', ['-h']).trim().split('\n')[0]!.split(/\s+/)[0]!;
  } catch {
    return null;
  }
  try {
    run('pg_dropcluster', [version, NAME, '--stop']);
  } catch {
    // none left over from an earlier run
  }
  run('pg_createcluster', [version, NAME, '-p', String(port), '--start', '--', '--auth-local=trust', '--auth-host=scram-sha-256']);
  sql(port, "CREATE ROLE codexec LOGIN PASSWORD 'codexec'");
  sql(port, 'CREATE DATABASE codexec OWNER codexec');
  return {
    url: `postgres://codexec:codexec@127.0.0.1:${port}/codexec`,
    port,
    restart: () => void run('pg_ctlcluster', [version, NAME, 'restart', '-m', 'fast']),
    drop: () => void run('pg_dropcluster', [version, NAME, '--stop']),
  };
}

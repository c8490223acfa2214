import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';

// The PostgreSQL server of the tests: CODEXEC_TEST_DATABASE_URL (`.ci/postgres.sh` installs one
// and prints it). Without it the PostgreSQL tests are skipped under a name that says so, except
// under CI, where they fail: CI must test the PostgreSQL store, never skip it. Each test works in
// a schema of its own, named at random and set as the connections' search_path through the URL.

export const DATABASE_URL = process.env.CODEXEC_TEST_DATABASE_URL ?? '';
const SKIPPED = 'skipped: CODEXEC_TEST_DATABASE_URL is not set (a PostgreSQL server is needed)';

/** describe() for tests that need PostgreSQL: skipped by name without a server, failing in CI. */
export function describePostgres(name: string, fn: () => void): void {
  if (DATABASE_URL === '' && process.env.CI) {
    describe(name, () => {
      it('needs a PostgreSQL server in CI', () => {
        throw new Error('CI must provide PostgreSQL: set CODEXEC_TEST_DATABASE_URL (.ci/postgres.sh prints it); these tests are never skipped in CI');
      });
    });
  } else if (DATABASE_URL === '') {
    describe.skip(`${name} (${SKIPPED})`, fn);
  } else {
    describe(name, fn);
  }
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestSchema {
  name: string;
  /** DATABASE_URL with this schema as its search_path (and an application_name, when given). */
  url: string;
  drop(): Promise<void>;
}

export async function createSchema(applicationName?: string): Promise<TestSchema> {
  const name = `codexec_test_${randomBytes(8).toString('hex')}`;
  await withClient(DATABASE_URL, (c) => c.query(`CREATE SCHEMA ${name}`));
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${name}`);
  if (applicationName !== undefined) url.searchParams.set('application_name', applicationName);
  return {
    name,
    url: url.toString(),
    drop: () => withClient(DATABASE_URL, (c) => c.query(`DROP SCHEMA ${name} CASCADE`)).then(() => undefined),
  };
}

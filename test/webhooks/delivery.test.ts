import path from 'node:path';
import { openPostgresQueue, openSqliteQueue } from '../../src/queue/open.js';
import { makeTempDir, removeDir } from '../queue/helpers.js';
import { createSchema, describePostgres } from '../queue/postgres-helpers.js';
import { deliverySuite } from './delivery-suite.js';

deliverySuite('SQLite', async () => {
  const dir = makeTempDir('codexec-webhooks-');
  return {
    open: async () => openSqliteQueue(path.join(dir, 'codexec.db')),
    cleanup: async () => removeDir(dir),
  };
});

describePostgres('webhooks on PostgreSQL', () => {
  deliverySuite('PostgreSQL', async () => {
    const schema = await createSchema();
    return {
      open: () => openPostgresQueue(schema.url, { poolSize: 4 }),
      cleanup: () => schema.drop(),
    };
  });
});

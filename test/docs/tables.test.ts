import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/api/error-codes.js';
import { exitStatusFor } from '../../src/cli/errors.js';
import { registerDoctor } from '../../src/cli/doctor.js';
import { registerLanguages } from '../../src/cli/languages.js';
import { registerKeys } from '../../src/cli/keys.js';
import { registerRun } from '../../src/cli/run.js';
import { registerServe } from '../../src/cli/serve.js';
import { registerStatus } from '../../src/cli/status.js';
import { registerWorker } from '../../src/cli/worker.js';
import { configTableMarkdown } from '../../src/config/reference.js';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';
import { MIGRATIONS as PG_MIGRATIONS } from '../../src/queue/postgres/migrations.js';
import { JOBS_CHANNEL } from '../../src/queue/postgres/sql.js';
import { CodexecError } from '../../src/domain/errors.js';
import { startHarness, type Harness } from '../api/harness.js';
import { ROOT, documentationFiles, firstTable, read, section, tables, unquote } from './markdown.js';

// The reference documents are checked against the code they describe: the routes of docs/api.md
// against the OpenAPI document of the real app, docs/errors.md against src/api/error-codes.ts,
// docs/configuration.md against src/config/schema.ts (generated), docs/languages.md against
// sandbox-profiles/, docs/cli.md against the commands' real options, the metrics the docs name
// against /metrics. A failure names what to add or remove.

const METHODS = 'GET|POST|PATCH|DELETE|PUT';
// `GET /executions/{execution_id}`: a method, one space, and a path that starts with a name or a
// parameter (so prose such as "POST / PATCH" is not a route). A query string is not part of it.
const ROUTE_RE = new RegExp(`\\b(${METHODS}) (/[A-Za-z{][A-Za-z0-9_{}/.-]*)`, 'g');
/** `/code-sessions/{session_id}` and `/code-sessions/{id}` name the same route. */
const normalize = (route: string) => route.replace(/\{[^}]*\}/g, '{}');
/** The text without HTML comments: the placeholders of features still to come name routes and variables on purpose. */
const visible = (text: string) => text.replace(/<!--[\s\S]*?-->/g, '');
const routesIn = (text: string) => [...visible(text).matchAll(ROUTE_RE)].map((m) => `${m[1]} ${m[2].replace(/[.]$/, '')}`);
// Served, but not part of the OpenAPI document (it does not describe itself or its UI page).
const UNDOCUMENTED_BY_DESIGN = ['GET /openapi.json', 'GET /docs'];

describe('docs/api.md: every route', () => {
  let h: Harness;
  let documented: Set<string>;
  // Routes with a heading of their own (`### GET /executions/{execution_id}`); the compatible APIs
  // have theirs in docs/compat.md.
  const headingRoutes = [read('docs/api.md'), read('docs/compat.md')]
    .join('\n')
    .split('\n')
    .filter((l) => /^#{2,4} /.test(l))
    .flatMap(routesIn);

  beforeAll(async () => {
    h = await startHarness({ config: { compat: ['judge0', 'piston'] } });
    const doc = h.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    documented = new Set(Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
  });
  afterAll(async () => {
    await h?.close();
  });

  it('every route of the OpenAPI document has its heading', () => {
    expect(documented.size).toBeGreaterThan(5);
    const inDocs = new Set(headingRoutes.map(normalize));
    expect([...documented].filter((r) => !inDocs.has(normalize(r))), 'add a "### METHOD /path" section to docs/api.md for each').toEqual([]);
  });

  it('every route the documentation names exists (or is one of /openapi.json, /docs)', () => {
    const known = new Set([...documented, ...UNDOCUMENTED_BY_DESIGN].map(normalize));
    const unknown = documentationFiles().flatMap((f) => [...new Set(routesIn(read(f)))].filter((r) => !known.has(normalize(r))).map((r) => `${f}: ${r}`));
    expect(unknown, 'documented routes that the app does not have').toEqual([]);
  });

  it('the routes served outside the OpenAPI document really answer', async () => {
    for (const route of UNDOCUMENTED_BY_DESIGN) {
      const [method, url] = route.split(' ');
      expect((await h.app.inject({ method: method as 'GET', url })).statusCode, route).toBe(200);
    }
  });
});

describe('docs/errors.md: one table per kind of error', () => {
  const doc = read('docs/errors.md');
  const TABLES = {
    http: 'HTTP responses',
    connection: 'Connection errors',
    execution: 'Execution errors',
    startup: 'Startup errors',
    cli: 'CLI errors',
  } as const;

  for (const [scope, title] of Object.entries(TABLES)) {
    it(`"${title}" lists exactly the ${scope} codes, with their ${scope === 'cli' ? 'exit' : 'HTTP'} status`, () => {
      const rows = firstTable(section(doc, title), title);
      const byCode = new Map(rows.map((r) => [unquote(r[0]), r]));
      const want = Object.entries(ERROR_CODES).filter(([, info]) => info.scope === scope);
      for (const [code, info] of want) {
        const row = byCode.get(code);
        expect(row, `docs/errors.md, "${title}": add | \`${code}\` | ... | ${info.description} |`).toBeDefined();
        if (scope === 'http' || scope === 'connection') expect(Number(row![1]), `HTTP status of ${code}`).toBe(info.status);
        // The CLI's own rule decides the exit status the table must show.
        if (scope === 'cli') expect(Number(row![1]), `exit status of ${code}`).toBe(exitStatusFor(new CodexecError(code, info.status, '')));
        expect(row![row!.length - 1].length, `meaning of ${code}`).toBeGreaterThan(10);
      }
      expect([...byCode.keys()].filter((c) => !want.some(([w]) => w === c)), `codes in "${title}" that are not ${scope} codes`).toEqual([]);
    });
  }
});

describe('docs/configuration.md: the table generated from the schema', () => {
  const FILE = path.join(ROOT, 'docs', 'configuration.md');
  const BEGIN = '<!-- config-table:begin -->';
  const END = '<!-- config-table:end -->';

  it('holds exactly the table of src/config/schema.ts (UPDATE_DOCS=1 rewrites it)', () => {
    const doc = fs.readFileSync(FILE, 'utf8');
    const a = doc.indexOf(BEGIN);
    const b = doc.indexOf(END);
    expect(a, `docs/configuration.md needs ${BEGIN} and ${END}`).toBeGreaterThan(0);
    const want = `${BEGIN}\n${configTableMarkdown()}\n${END}`;
    const have = doc.slice(a, b + END.length);
    if (have !== want && process.env.UPDATE_DOCS === '1') {
      fs.writeFileSync(FILE, doc.slice(0, a) + want + doc.slice(b + END.length));
      return;
    }
    expect(have, 'run `UPDATE_DOCS=1 npx vitest run test/docs/tables.test.ts`').toBe(want);
  });

  it('the machine-dependent defaults are written in words', () => {
    expect(CONFIG_SCHEMA.executors.default).toBe(os.availableParallelism());
    expect(configTableMarkdown()).toContain('| `CODEXEC_EXECUTORS` | number of CPUs |');
    expect(configTableMarkdown()).toContain('| `CODEXEC_DATA_DIR` | `/var/lib/codexec` as root');
  });
});

describe('docs/languages.md: the languages table', () => {
  const dir = path.join(ROOT, 'sandbox-profiles', 'languages');
  const ids = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { id: string }).id);
  const listed = new Set(firstTable(section(read('docs/languages.md'), 'The languages'), 'the languages table').map((r) => unquote(r[0])));

  it('lists every language of sandbox-profiles/languages, and no other', () => {
    expect(ids.length).toBeGreaterThanOrEqual(12);
    expect(ids.filter((id) => !listed.has(id))).toEqual([]);
    expect([...listed].filter((id) => !ids.includes(id))).toEqual([]);
  });

  it('the example profile is the shipped c.json, as it is', () => {
    const example = /```json\n([\s\S]*?)\n```/.exec(section(read('docs/languages.md'), 'Adding a language'))![1];
    expect(JSON.parse(example)).toEqual(JSON.parse(fs.readFileSync(path.join(dir, 'c.json'), 'utf8')));
  });
});

describe('docs/cli.md: the flags of every command', () => {
  const program = new Command();
  for (const register of [registerServe, registerWorker, registerRun, registerStatus, registerDoctor, registerLanguages, registerKeys]) register(program);
  const rows = firstTable(section(read('docs/cli.md'), 'Flags'), 'the flags table');
  // Subcommands by their whole name: `keys create`.
  const commands = (list: readonly Command[], prefix = ''): { name: string; command: Command }[] =>
    list.flatMap((c) => {
      const name = `${prefix}${c.name()}`;
      return [{ name, command: c }, ...commands(c.commands, `${name} `)];
    });

  it('documents every option of every command, and no other', () => {
    const real = commands(program.commands).flatMap(({ name, command }) => command.options.map((o) => `${name} ${o.long}`));
    const documented = rows.flatMap((r) => {
      const long = /--[a-z-]+/.exec(r[0])?.[0];
      return r[1].split(',').map((c) => `${c.trim()} ${long}`);
    });
    expect(real.filter((f) => !documented.includes(f)), 'add a row to docs/cli.md "Flags"').toEqual([]);
    expect(documented.filter((f) => !real.includes(f)), 'docs/cli.md documents flags the commands do not have').toEqual([]);
  });

  it('names the variable of each flag tied to one', () => {
    for (const r of rows) {
      const variable = unquote(r[2]);
      if (variable) expect(Object.values(CONFIG_SCHEMA).map((s) => s.env), r[0]).toContain(variable);
    }
  });
});

describe('variables and metrics the documentation names exist', () => {
  // Knobs of the test suite and CI, not settings of codexec (loadConfig would refuse them). Each
  // must still be read where the docs say.
  const TEST_ONLY = { CODEXEC_SLOW: 'test/security/helpers.ts', CODEXEC_CI_SKIP_V2: '.ci/run', CODEXEC_TEST_DATABASE_URL: 'test/queue/postgres-helpers.ts' };
  const files = [...documentationFiles(), 'DESIGN.md', '.env.example'];

  it('the test-only variables are real', () => {
    for (const [name, file] of Object.entries(TEST_ONLY)) expect(read(file), `${name} in ${file}`).toContain(name);
  });

  it('no unknown CODEXEC_ variable', () => {
    const known = new Set([...Object.values(CONFIG_SCHEMA).map((s) => s.env), ...Object.keys(TEST_ONLY)]);
    const unknown = files.flatMap((f) => [...visible(read(f)).matchAll(/CODEXEC_[A-Z0-9_]*[A-Z0-9]/g)].filter((m) => !known.has(m[0])).map((m) => `${f}: ${m[0]}`));
    expect(unknown).toEqual([]);
  });

  it('.env.example names every variable (the compose file passes most through, and fixes the others)', () => {
    const example = read('.env.example');
    expect(Object.values(CONFIG_SCHEMA).map((s) => s.env).filter((name) => !example.includes(name))).toEqual([]);
  });

  it('every codexec_ metric the documentation names is exported by /metrics', async () => {
    const h = await startHarness();
    try {
      const exported = new Set([...(await h.app.inject({ method: 'GET', url: '/metrics' })).body.matchAll(/^# TYPE (codexec_\w+)/gm)].map((m) => m[1]));
      expect(exported.size).toBeGreaterThan(5);
      const named = files.flatMap((f) => [...read(f).matchAll(/\bcodexec_[a-z_]+[a-z]/g)].map((m) => ({ f, name: m[0].replace(/_(bucket|sum|count)$/, '') })));
      // Not metrics: the launcher's and test names, the PostgreSQL NOTIFY channel and the SQL functions of its migrations.
      const sqlFunctions = new Set(PG_MIGRATIONS.flatMap((m) => [...m.sql.matchAll(/CREATE FUNCTION (codexec_\w+)/g)].map((x) => x[1])));
      const unknown = named.filter(({ name }) => !exported.has(name) && name !== JOBS_CHANNEL && !sqlFunctions.has(name) && !/^codexec_(launcher|worker|test)/.test(name));
      expect(unknown.map(({ f, name }) => `${f}: ${name}`)).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('the metrics table of docs/operations.md lists every codexec metric', async () => {
    const h = await startHarness();
    try {
      const exported = [...(await h.app.inject({ method: 'GET', url: '/metrics' })).body.matchAll(/^# TYPE (codexec_\w+)/gm)].map((m) => m[1]);
      const rows = tables(section(read('docs/operations.md'), 'Metrics and alerts'))[0].map((r) => r[0]);
      expect(exported.filter((name) => !rows.some((cell) => cell.includes(`\`${name}`)))).toEqual([]);
    } finally {
      await h.close();
    }
  });
});

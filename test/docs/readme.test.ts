import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/api/error-codes.js';
import { CONFIG_SCHEMA } from '../../src/config/schema.js';
import { startHarness, type Harness } from '../api/harness.js';

// The README is checked against the code it documents: the routes against the OpenAPI document
// of the real app, the error table against src/api/error-codes.ts, the configuration table
// against src/config/schema.ts, the languages table against sandbox-profiles/. A failure names
// what to add or remove.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

const METHODS = 'GET|POST|PATCH|DELETE|PUT';
// `GET /executions/{execution_id}`: a method, one space, and a path that starts with a name or a
// parameter (so prose such as "POST / PATCH" is not a route). A query string is not part of it.
const ROUTE_RE = new RegExp(`\\b(${METHODS}) (/[A-Za-z{][A-Za-z0-9_{}/.-]*)`, 'g');

/** The text of a level-2 section, from its heading to the next level-2 heading. */
function section(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  if (start < 0) throw new Error(`README.md has no "## ${title}" section`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^## /.test(l));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** Markdown tables of a text (outside code fences), as rows of trimmed cells, header and separator dropped. */
function tables(text: string): string[][][] {
  const out: string[][][] = [];
  let current: string[][] | null = null;
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced && line.startsWith('|')) {
      const cells = line.replace(/^\|/, '').replace(/\|\s*$/, '').split('|').map((c) => c.trim());
      if (!current) {
        current = [];
        out.push(current);
        continue; // header row
      }
      if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
      current.push(cells);
    } else current = null;
  }
  return out;
}

function firstTable(text: string, what: string): string[][] {
  const t = tables(text)[0];
  if (!t || t.length === 0) throw new Error(`no table found for ${what}`);
  return t;
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');
/** `/code-sessions/{session_id}` and `/code-sessions/{id}` name the same route. */
const normalize = (route: string) => route.replace(/\{[^}]*\}/g, '{}');

function routesIn(text: string): string[] {
  return [...text.matchAll(ROUTE_RE)].map((m) => `${m[1]} ${m[2].replace(/[.]$/, '')}`);
}

describe('README.md: API reference', () => {
  let h: Harness;
  let documented: Set<string>;

  beforeAll(async () => {
    h = await startHarness();
    const doc = h.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)),
    );
  });
  afterAll(async () => {
    await h?.close();
  });

  const apiSection = section(README, 'API reference');
  // Routes the README gives a heading of their own (`#### GET /executions/{execution_id}`).
  const headingRoutes = apiSection
    .split('\n')
    .filter((l) => /^#{3,4} /.test(l))
    .flatMap(routesIn);
  // Served, but not part of the OpenAPI document (it does not describe itself or its UI page).
  const UNDOCUMENTED_BY_DESIGN = ['GET /openapi.json', 'GET /docs'];

  it('the OpenAPI document is served at /openapi.json and lists the routes', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.json().paths).length).toBeGreaterThan(5);
    expect(documented.size).toBeGreaterThan(5);
  });

  it('every route of the OpenAPI document has its heading in the README\'s API section', () => {
    const inReadme = new Set(headingRoutes.map(normalize));
    const missing = [...documented].filter((r) => !inReadme.has(normalize(r)));
    expect(missing, 'add a "#### METHOD /path" section for each').toEqual([]);
  });

  it('every route the README names exists in the OpenAPI document (or is one of /openapi.json, /docs)', () => {
    const known = new Set([...documented, ...UNDOCUMENTED_BY_DESIGN].map(normalize));
    const unknown = [...new Set(routesIn(README))].filter((r) => !known.has(normalize(r)));
    expect(unknown, 'the README documents routes that the app does not have').toEqual([]);
    expect(headingRoutes.length).toBeGreaterThanOrEqual(documented.size);
  });

  it('the routes served outside the OpenAPI document really answer', async () => {
    for (const route of UNDOCUMENTED_BY_DESIGN) {
      const [method, url] = route.split(' ');
      const res = await h.app.inject({ method: method as 'GET', url });
      expect(res.statusCode, route).toBe(200);
    }
  });
});

describe('README.md: error table', () => {
  const rows = firstTable(section(README, 'Errors'), 'the error table');
  const byCode = new Map(rows.map((r) => [unquote(r[0]), r]));

  it('lists every code of src/api/error-codes.ts with its status and scope', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = byCode.get(code);
      expect(row, `README error table: add | \`${code}\` | ${info.status} | ${info.scope} | ${info.description} |`).toBeDefined();
      expect(Number(row![1]), `status of ${code}`).toBe(info.status);
      expect(row![2], `scope of ${code}`).toBe(info.scope);
      expect(row![3].length, `meaning of ${code}`).toBeGreaterThan(10);
    }
  });

  it('lists no code that does not exist', () => {
    const unknown = [...byCode.keys()].filter((c) => !(c in ERROR_CODES));
    expect(unknown).toEqual([]);
    expect(rows.length).toBe(Object.keys(ERROR_CODES).length);
  });
});

describe('README.md: configuration table', () => {
  const rows = firstTable(section(README, 'Configuration'), 'the configuration table');
  const byName = new Map(rows.map((r) => [unquote(r[0]), r]));
  // Defaults that depend on the machine are written in words.
  const CPU_DEPENDENT = new Set(['CODEXEC_EXECUTORS', 'CODEXEC_WORKER_CONCURRENCY']);

  function expectedDefault(env: string, def: unknown): string {
    if (CPU_DEPENDENT.has(env)) return 'number of CPUs';
    if (def === '') return 'empty';
    return `\`${String(def)}\``;
  }

  it('lists every variable of src/config/schema.ts with its default', () => {
    for (const spec of Object.values(CONFIG_SCHEMA)) {
      const row = byName.get(spec.env);
      const want = expectedDefault(spec.env, spec.default);
      expect(row, `README configuration table: add | \`${spec.env}\` | ${want} | ${spec.description} |`).toBeDefined();
      expect(row![1], `default of ${spec.env}`).toBe(want);
      expect(row![2].length, `description of ${spec.env}`).toBeGreaterThan(10);
    }
  });

  it('the defaults written as "number of CPUs" are that', () => {
    for (const spec of Object.values(CONFIG_SCHEMA)) {
      if (CPU_DEPENDENT.has(spec.env)) expect(spec.default, spec.env).toBe(os.availableParallelism());
    }
  });

  it('lists no variable that does not exist', () => {
    const known = new Set(Object.values(CONFIG_SCHEMA).map((s) => s.env));
    expect([...byName.keys()].filter((n) => !known.has(n))).toEqual([]);
  });

  // Knobs of the test suite and CI, not settings of codexec (loadConfig would refuse them): the
  // README's test section names them. Each must still be read where the README says.
  const TEST_ONLY = { CODEXEC_SLOW: 'test/security/helpers.ts', CODEXEC_CI_SKIP_V2: '.ci/run', CODEXEC_TEST_DATABASE_URL: 'test/queue/postgres-helpers.ts' };

  it('the test-only variables the docs mention are real', () => {
    for (const [name, file] of Object.entries(TEST_ONLY)) {
      expect(fs.readFileSync(path.join(ROOT, file), 'utf8'), `${name} in ${file}`).toContain(name);
    }
  });

  function markdownFiles(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return markdownFiles(p);
      return e.name.endsWith('.md') ? [p] : [];
    });
  }

  it('README.md, DESIGN.md and docs/**/*.md mention no unknown CODEXEC_ variable', () => {
    const known = new Set([...Object.values(CONFIG_SCHEMA).map((s) => s.env), ...Object.keys(TEST_ONLY)]);
    const files = [path.join(ROOT, 'README.md'), path.join(ROOT, 'DESIGN.md'), ...markdownFiles(path.join(ROOT, 'docs'))];
    const unknown: string[] = [];
    for (const file of files) {
      if (!fs.existsSync(file)) continue;
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/CODEXEC_[A-Z0-9_]*[A-Z0-9]/g)) {
        if (!known.has(m[0])) unknown.push(`${path.relative(ROOT, file)}: ${m[0]}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});

describe('README.md: languages table', () => {
  const dir = path.join(ROOT, 'sandbox-profiles', 'languages');
  const ids = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { id: string }).id);
  const rows = firstTable(section(README, 'Languages'), 'the languages table');
  const listed = new Set(rows.map((r) => unquote(r[0])));

  it('lists every language of sandbox-profiles/languages', () => {
    expect(ids.length).toBeGreaterThanOrEqual(12);
    expect(ids.filter((id) => !listed.has(id))).toEqual([]);
  });

  it('lists no language that has no profile', () => {
    expect([...listed].filter((id) => !ids.includes(id))).toEqual([]);
  });
});

describe('README.md: quick start', () => {
  it('starts with the two commands', () => {
    const head = README.split('\n').slice(0, 20).join('\n');
    expect(head).toContain('npm install && npm start');
    expect(head).toContain('npm test');
  });

  it('the commands it names are the package scripts', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain('serve');
    expect(pkg.scripts.test).toContain('vitest');
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, freePort, tempDir } from '../cli/helpers.js';
import { ROOT, documentationFiles, fences, read, type Fence } from './markdown.js';

// Every shell command of README.md, CONTRIBUTING.md and docs/ is run here, block by block and in
// order, against a real server started with `npm start` (executions need root: as another user
// these tests are skipped), or is listed in NOT_RUN with the reason and the test or CI step that
// covers it. A new command in the docs that is neither fails the "every command" test; an entry
// of NOT_RUN that no longer matches a command fails it too.
//
// A block runs in bash with `set -euo pipefail`, in one working directory per document (files
// one block writes are there for the next), with `codexec` and `npx codexec` being this
// package's bin/codexec, `$sid` a fresh python session and `$eid` a finished run of it, and these
// rewrites: localhost:8080 -> the test server, /var/backups -> a temporary directory. When a
// ```json block follows a block, the JSON the block printed last has the documented shape.

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
const isRoot = process.geteuid?.() === 0;

interface NotRun {
  /** Only in this document (every command of it when `match` is omitted). */
  file?: string;
  /** The command (a logical line of a block, without a trailing comment), exactly, or a pattern. */
  match?: string | RegExp;
  why: string;
  /** The test or CI script that covers it instead: the file must contain `contains`. */
  coveredBy?: { file: string; contains: string; outsideRepository?: boolean };
}

const CONTAINER_CHECK = { file: '../shared/tools/container-check', contains: 'compose', outsideRepository: true };
const CI = (contains: string) => ({ file: '.ci/run', contains });

const NOT_RUN: NotRun[] = [
  { match: 'npm install && npm start', why: 'this test starts its server with `npm start`; CI installs with `npm ci` (the same install scripts)', coveredBy: CI('npm ci') },
  { match: /^npm (install|run build)$/, why: 'CI installs with `npm ci` (the same install scripts) and builds in `npm test`', coveredBy: CI('npm ci') },
  { match: /^npm test\b/, why: 'the whole suite: CI runs it', coveredBy: CI('npm test') },
  { match: /^npm run test:unit$/, why: 'the unit layer: CI runs it as nobody without a build', coveredBy: CI('.ci/unit-unprivileged.sh') },
  { match: /^npm run test:(integration|security|faults)$/, why: 'a layer of the suite, which CI runs whole', coveredBy: CI('npm test') },
  { match: /^npx vitest run\b/, why: 'parts of the suite, which CI runs whole', coveredBy: CI('npm test') },
  { match: /^CODEXEC_TEST_DATABASE_URL=.*npx vitest run\b|^export CODEXEC_TEST_DATABASE_URL=/, why: 'the PostgreSQL tests: CI starts PostgreSQL this way', coveredBy: CI('.ci/postgres.sh') },
  { match: /^npm run bench\b/, why: 'benchmarks: CI runs their short mode', coveredBy: CI('npm run bench -- --short') },
  { match: /cgroup2-vm\b/, why: 'the pure cgroup v2 VM: a CI step', coveredBy: CI('cgroup2-vm') },
  { match: /container-check\b/, why: 'podman build and compose up: run by hand (no container engine in CI)', coveredBy: CONTAINER_CHECK },
  { match: /^docker /, why: 'no Docker engine here: container-check builds the image and brings the compose stack up with podman', coveredBy: CONTAINER_CHECK },
  { file: path.join('docs', 'docker.md'), why: 'the Docker walk-through, against the compose stack: container-check runs its flow', coveredBy: CONTAINER_CHECK },
  { match: /^codexec serve --port 9000 --executors 0$/, why: 'a long-running server: test/cli/status.test.ts starts an API-only `codexec serve`', coveredBy: { file: 'test/cli/status.test.ts', contains: "CODEXEC_EXECUTORS: '0'" } },
  { match: /^CODEXEC_DATA_DIR=\/var\/lib\/codexec codexec worker --concurrency 4$/, why: 'a long-running worker: the fault tests start workers on a shared data directory', coveredBy: { file: 'test/faults/lib/cluster.ts', contains: "'worker'" } },
  { file: path.join('docs', 'several-hosts.md'), why: 'a PostgreSQL host and long-running processes; the PostgreSQL store is tested by test/queue (issue 13 adds a topology test)', coveredBy: { file: 'test/queue/postgres-job-store.test.ts', contains: "jobStoreConformance('PostgreSQL'" } },
  { match: /^(git clone|cd \/opt\/codexec|install -m 644 docs\/codexec\.service|systemctl |journalctl )/, why: 'installs a systemd service (no systemd as PID 1 here): the unit is checked by test/docs/service.test.ts, the build by CI', coveredBy: { file: 'test/docs/service.test.ts', contains: 'systemd-analyze' } },
  { match: /^cp -a \/var\/lib\/codexec /, why: 'with systemctl around it: test/docs/backup.test.ts runs stop, copy, start against a real server', coveredBy: { file: 'test/docs/backup.test.ts', contains: "'cp', ['-a'" } },
  { match: /^(htpasswd |nginx -t)/, why: 'needs nginx, which CI does not install; the proxy settings it relies on (X-Api-Key keys the rate limits) are tested in test/api' },
  { match: 'node scripts/build-deck.mjs', why: 'needs chromium; builds docs/case-study/deck.pdf, which is committed' },
];

/** The logical lines of a shell block: continuations joined, blank lines and comment lines dropped. */
export function commandsOf(body: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of body.split('\n')) {
    const line = current ? `${current} ${raw.trim()}` : raw.trim();
    if (line.endsWith('\\')) {
      current = line.slice(0, -1).trimEnd();
      continue;
    }
    current = '';
    if (line && !line.startsWith('#')) out.push(line);
  }
  return out;
}

function matches(entry: NotRun, file: string, command: string): boolean {
  if (entry.file !== undefined && entry.file !== file) return false;
  if (entry.match === undefined) return true;
  const bare = command.replace(/\s+#(\s.*)?$/, ''); // without a trailing comment
  return typeof entry.match === 'string' ? bare === entry.match : entry.match.test(bare);
}
const notRun = (file: string, command: string) => NOT_RUN.some((e) => matches(e, file, command));

interface Block extends Fence {
  commands: string[];
  run: boolean;
  /** The fence right after this one when it is ```json (the documented output). */
  documented?: string;
}

function blocksOf(file: string): Block[] {
  const all = fences(file, read(file));
  const lines = read(file).split('\n');
  return all.flatMap((f, i) => {
    if (!SHELL_LANGS.has(f.lang)) return [];
    const commands = commandsOf(f.body);
    const next = all[i + 1];
    const closing = f.line + f.body.split('\n').length; // line of the closing fence (1-based)
    const adjacent = next && next.lang === 'json' && lines.slice(closing, next.line - 1).every((l) => l.trim() === '');
    return [{ ...f, commands, run: !commands.some((c) => notRun(file, c)), documented: adjacent ? next.body : undefined }];
  });
}

const files = documentationFiles();
const blocks = new Map(files.map((f) => [f, blocksOf(f)]));

describe('every command in the documentation is run here or covered elsewhere', () => {
  it('finds the documents and their commands', () => {
    expect(files).toEqual(expect.arrayContaining(['README.md', 'CONTRIBUTING.md', path.join('docs', 'operations.md')]));
    expect([...blocks.values()].flat().filter((b) => b.run).length).toBeGreaterThan(15);
  });

  it('a block is run whole or not at all: no command of a run block is in NOT_RUN', () => {
    const mixed = [...blocks.values()]
      .flat()
      .filter((b) => !b.run && b.commands.some((c) => !notRun(b.file, c)))
      .map((b) => `${b.file}:${b.line}: ${b.commands.filter((c) => !notRun(b.file, c)).join(' | ')}`);
    expect(mixed, 'these commands share a block with commands that are not run: split the block, or add them to NOT_RUN with the reason').toEqual([]);
  });

  it('every NOT_RUN entry still matches a command, and names a real test or CI step', () => {
    const commands = [...blocks.values()].flat().flatMap((b) => b.commands.map((c) => [b.file, c] as const));
    for (const entry of NOT_RUN) {
      expect(commands.some(([f, c]) => matches(entry, f, c)), `NOT_RUN entry ${String(entry.match ?? entry.file)} matches no command any more: remove it`).toBe(true);
      expect(entry.why.length).toBeGreaterThan(10);
      if (!entry.coveredBy) continue;
      const file = path.join(ROOT, entry.coveredBy.file);
      if (entry.coveredBy.outsideRepository && !fs.existsSync(file)) continue; // a clone without ../shared
      expect(fs.readFileSync(file, 'utf8'), `${entry.coveredBy.file} covers ${String(entry.match ?? entry.file)}`).toContain(entry.coveredBy.contains);
    }
  });
});

/** Documented and actual JSON agree in shape, where both have something to compare (an empty array or a null matches anything). */
function sameShape(documented: unknown, actual: unknown, where = '$'): string[] {
  if (documented === null || actual === null) return [];
  if (Array.isArray(documented) || Array.isArray(actual)) {
    if (!Array.isArray(documented) || !Array.isArray(actual)) return [`${where}: array in one, not in the other`];
    return documented.length && actual.length ? sameShape(documented[0], actual[0], `${where}[0]`) : [];
  }
  if (typeof documented === 'object' || typeof actual === 'object') {
    if (typeof documented !== 'object' || typeof actual !== 'object') return [`${where}: object in one, not in the other`];
    const d = Object.keys(documented as object);
    const a = Object.keys(actual as object);
    const problems = [...d.filter((k) => !a.includes(k)).map((k) => `${where}.${k}: documented, not in the output`), ...a.filter((k) => !d.includes(k)).map((k) => `${where}.${k}: in the output, not documented`)];
    for (const k of d.filter((x) => a.includes(x))) problems.push(...sameShape((documented as Record<string, unknown>)[k], (actual as Record<string, unknown>)[k], `${where}.${k}`));
    return problems;
  }
  return [];
}

const lastJsonLine = (text: string): unknown => {
  for (const line of text.trim().split('\n').reverse()) {
    try {
      return JSON.parse(line);
    } catch {
      // not JSON: look further up
    }
  }
  return undefined;
};

describe.skipIf(!isRoot)('the documented commands, run against a real server (needs root for the executions)', () => {
  let server: ResultPromise;
  let base: string;
  let port: number;
  let dataDir: string;
  let work: string;
  let log = '';

  beforeAll(async () => {
    work = tempDir('codexec-docs-');
    dataDir = path.join(work, 'data');
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // `npm start`, as the README says, on a port and a data directory of the test's own.
    server = execa('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: cleanEnv({ CODEXEC_DATA_DIR: dataDir, CODEXEC_PORT: String(port), CODEXEC_HOST: '127.0.0.1', CODEXEC_EXECUTORS: '2', CODEXEC_LOG_LEVEL: 'warn' }),
      extendEnv: false,
      reject: false,
      detached: true, // its own process group: npm, its shell and node stop together
    });
    server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    for (let i = 0; i < 600; i++) {
      if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`npm start did not become ready: ${log}`);
  }, 90_000);

  afterAll(async () => {
    if (server?.pid) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await server;
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  /** A python session with Hello World, and one finished run of it: `$sid` and `$eid` of the docs. */
  async function sessionAndRun(): Promise<{ sid: string; eid: string }> {
    const json = { 'content-type': 'application/json' };
    const s = await (await fetch(`${base}/code-sessions`, { method: 'POST', headers: json, body: JSON.stringify({ language: 'python', source_code: 'print("Hello World")\n' }) })).json();
    const r = await (await fetch(`${base}/code-sessions/${s.session_id}/run`, { method: 'POST' })).json();
    await fetch(`${base}/executions/${r.execution_id}?wait_ms=20000`);
    return { sid: s.session_id, eid: r.execution_id };
  }

  for (const [file, list] of blocks) {
    const runnable = list.filter((b) => b.run);
    if (runnable.length === 0) continue;
    describe(file, () => {
      let cwd: string;
      beforeAll(() => {
        cwd = fs.mkdtempSync(path.join(work, `${path.basename(file, '.md')}-`));
      });

      for (const block of runnable) {
        const needsPostgres = block.body.includes('$CODEXEC_DATABASE_URL');
        const pg = process.env.CODEXEC_TEST_DATABASE_URL;
        it.skipIf(needsPostgres && !pg)(`${file}:${block.line}: ${block.commands[0].slice(0, 70)}${needsPostgres && !pg ? ' (skipped: needs CODEXEC_TEST_DATABASE_URL)' : ''}`, async () => {
          const { sid, eid } = await sessionAndRun();
          const backups = fs.mkdtempSync(path.join(work, 'backups-'));
          const script = block.body.replace(/localhost:8080/g, `127.0.0.1:${port}`).replace(/\/var\/backups/g, backups);
          const prelude = [
            'set -euo pipefail',
            `codexec() { node ${JSON.stringify(BIN)} "$@"; }`,
            `npx() { if [ "$1" = codexec ]; then shift; node ${JSON.stringify(BIN)} "$@"; else echo "docs test: npx $1 is not allowed" >&2; return 127; fi; }`,
          ].join('\n');
          const env = cleanEnv({ CODEXEC_DATA_DIR: dataDir, sid, eid, ...(needsPostgres && pg ? { CODEXEC_DATABASE_URL: pg } : {}) });
          const r = await execa('bash', ['-c', `${prelude}\n${script}`], { cwd, env, extendEnv: false, reject: false, timeout: 120_000, all: true });
          expect(r.exitCode, `${file}:${block.line} failed:\n${script}\n---\n${r.all}`).toBe(0);
          if (block.documented) {
            const actual = lastJsonLine(r.stdout);
            expect(actual, `${file}:${block.line} printed no JSON, but a JSON block documents its output`).toBeDefined();
            const documented = lastJsonLine(block.documented) ?? JSON.parse(block.documented);
            expect(sameShape(documented, actual), `${file}:${block.line}: the documented JSON differs in shape from the output:\n${r.stdout}`).toEqual([]);
          }
        });
      }
    });
  }
});

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, anchorsIn, documentationFiles, read } from './markdown.js';

// README.md is the front door: the two commands first, security before anything else, short, and
// every link of it and of docs/ leads somewhere. The reference tables live in docs/ and are
// checked by tables.test.ts; every command is run by commands.test.ts.

const README = read('README.md');

describe('README.md: the front door', () => {
  it('starts with the two commands', () => {
    const head = README.split('\n').slice(0, 20).join('\n');
    expect(head).toContain('npm install && npm start');
    expect(head).toContain('npm test');
  });

  it('the commands it names are the package scripts', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; bin: Record<string, string> };
    expect(pkg.scripts.start).toContain('serve');
    expect(pkg.scripts.test).toContain('vitest');
    expect(pkg.bin.codexec).toBe('bin/codexec'); // what `npx codexec` runs in the repository
  });

  it('says, near the top, that it runs as root, listens on every interface and has no authentication', () => {
    const top = README.split('\n').slice(0, 40).join('\n');
    for (const fact of [/runs as root/i, /0\.0\.0\.0/, /no authentication/i, /reverse proxy/i, /TLS/]) expect(top).toMatch(fact);
  });

  it('stays a front door (about 300 lines), the reference being in docs/', () => {
    expect(README.split('\n').length).toBeLessThan(320);
  });
});

describe('links of README.md, CONTRIBUTING.md and docs/', () => {
  const LINK = /\[[^\]]*\]\(([^)\s]+)\)/g;

  it('every relative link leads to a file, and every #anchor to a heading', () => {
    const broken: string[] = [];
    for (const file of documentationFiles()) {
      const text = read(file).replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(LINK)) {
        if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
        const [rel, anchor] = target.split('#');
        const dest = rel ? path.normalize(path.join(path.dirname(file), rel)) : file;
        if (!fs.existsSync(path.join(ROOT, dest))) {
          broken.push(`${file}: ${target} (no ${dest})`);
          continue;
        }
        if (anchor && dest.endsWith('.md') && !anchorsIn(read(dest)).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${dest})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('every document of docs/ is linked from the README', () => {
    const docs = documentationFiles().filter((f) => f.startsWith(`docs${path.sep}`));
    expect(docs.filter((d) => !README.includes(`](${d.split(path.sep).join('/')})`))).toEqual([]);
  });
});

describe('docs/architecture.md: the map matches the tree', () => {
  const map = read('docs/architecture.md');

  it('every file or folder it names exists', () => {
    const named = [...map.matchAll(/`((?:src|native|sandbox-profiles|bin|test|bench)\/[A-Za-z0-9_./-]*)`/g)].map((m) => m[1].replace(/\/$/, ''));
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((p) => !fs.existsSync(path.join(ROOT, p)))).toEqual([]);
  });

  it('every folder of src/ has its line in the table', () => {
    const rows = new Set([...map.matchAll(/^\| `(src\/[a-z-]+)\/` \|/gm)].map((m) => m[1]));
    const folders = fs
      .readdirSync(path.join(ROOT, 'src'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `src/${e.name}`);
    expect(folders.filter((f) => !rows.has(f)), 'add a row to docs/architecture.md').toEqual([]);
    expect([...rows].filter((r) => !folders.includes(r)), 'docs/architecture.md names folders that are gone').toEqual([]);
  });
});

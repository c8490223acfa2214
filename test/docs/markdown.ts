import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Reading the documentation as data: sections, tables, fenced blocks, links. Used by the tests
// that keep README.md, CONTRIBUTING.md and docs/ true to the code.

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** README.md, CONTRIBUTING.md and every docs/**\/*.md but the case-study deck, as repository paths. */
export function documentationFiles(): string[] {
  const walk = (dir: string): string[] =>
    fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) return rel === path.join('docs', 'case-study') ? [] : walk(rel);
      return e.name.endsWith('.md') ? [rel] : [];
    });
  return ['README.md', 'CONTRIBUTING.md', ...walk('docs')].filter((f) => fs.existsSync(path.join(ROOT, f)));
}

/** The text under a heading (any level), up to the next heading of the same or a higher level. */
export function section(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, '').trim() === title);
  if (start < 0) throw new Error(`no "${title}" heading`);
  const level = /^#+/.exec(lines[start])![0].length;
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => new RegExp(`^#{1,${level}} `).test(l));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** Markdown tables of a text (outside code fences), as rows of trimmed cells, header and separator dropped. */
export function tables(text: string): string[][][] {
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

export function firstTable(text: string, what: string): string[][] {
  const t = tables(text)[0];
  if (!t || t.length === 0) throw new Error(`no table found for ${what}`);
  return t;
}

export const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

export interface Fence {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  body: string;
}

/** Every fenced code block of a markdown text. */
export function fences(file: string, markdown: string): Fence[] {
  const out: Fence[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    out.push({ file, line: start + 1, lang: open[1], body: body.join('\n') });
  }
  return out;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

export function anchorsIn(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = anchorOf(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

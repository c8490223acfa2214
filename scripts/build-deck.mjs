#!/usr/bin/env node
// Builds docs/case-study/deck.pdf from docs/case-study/deck.md: one 16:9 page per slide.
//
//   node scripts/build-deck.mjs [--in FILE.md] [--out FILE.pdf] [--html FILE.html]
//
// Markdown (the subset the deck uses: headings, paragraphs, nested lists, tables, fenced code,
// inline code, bold, italics, links; slides separated by lines of `---`) becomes one
// self-contained HTML file, which headless Chromium prints to PDF. Nothing is downloaded: no npm
// package, no web font, and a Content-Security-Policy forbids the page any network request.
// Needs Chromium (Debian: `apt-get install chromium`; or set CHROMIUM=/path/to/chrome).
//
// A slide whose content does not fit its page is shrunk (down to 70% of the font size); one that
// still does not fit fails the build and is named, so no PDF page is silently cut off.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const opts = { in: 'docs/case-study/deck.md', out: 'docs/case-study/deck.pdf', html: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--in') opts.in = value();
    else if (flag === '--out') opts.out = value();
    else if (flag === '--html') opts.html = value();
    else if (flag === '-h' || flag === '--help') {
      process.stdout.write('usage: node scripts/build-deck.mjs [--in deck.md] [--out deck.pdf] [--html deck.html]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  return opts;
}

// ---------------------------------------------------------------- Markdown -> HTML

const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Inline markup: `code` first (nothing inside it is markup), then links, bold, italics. */
function inline(text) {
  return text
    .split(/(`[^`]+`)/)
    .map((part) => {
      if (/^`[^`]+`$/.test(part)) return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      return escapeHtml(part)
        .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, label, href) => `<a href="${href}">${label}</a>`)
        .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
        .replace(/(^|[\s(])\*([^*\s][^*]*)\*(?=[\s).,;:!?]|$)/g, '$1<em>$2</em>');
    })
    .join('');
}

const LIST_ITEM = /^(\s*)([-*]|\d+\.)\s+(.*)$/;

/** A run of list lines -> nested <ul>/<ol>, by indentation. */
function renderList(lines) {
  const items = [];
  for (const line of lines) {
    const m = LIST_ITEM.exec(line);
    if (m) items.push({ indent: m[1].length, ordered: /\d/.test(m[2]), text: m[3] });
    else if (items.length > 0) items[items.length - 1].text += ` ${line.trim()}`; // continuation line
  }
  let html = '';
  const stack = []; // open lists: {indent, tag}
  for (const item of items) {
    while (stack.length > 0 && item.indent < stack[stack.length - 1].indent) {
      html += `</li></${stack.pop().tag}>`;
    }
    const top = stack[stack.length - 1];
    if (!top || item.indent > top.indent) {
      const tag = item.ordered ? 'ol' : 'ul';
      stack.push({ indent: item.indent, tag });
      html += `<${tag}><li>`;
    } else {
      html += '</li><li>';
    }
    html += inline(item.text);
  }
  while (stack.length > 0) html += `</li></${stack.pop().tag}>`;
  return html;
}

function splitRow(line) {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
}

function renderTable(lines) {
  const rows = lines.map(splitRow);
  const [head, sep, ...body] = rows;
  const hasHeader = sep && sep.every((c) => /^:?-+:?$/.test(c));
  const emptyHeader = hasHeader && head.every((c) => c === '');
  const bodyRows = hasHeader ? body : rows;
  let html = '<table>';
  if (hasHeader && !emptyHeader) html += `<thead><tr>${head.map((c) => `<th>${inline(c)}</th>`).join('')}</tr></thead>`;
  html += `<tbody>${bodyRows.map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  return html;
}

/** One slide's Markdown -> HTML blocks. */
export function renderBlocks(markdown) {
  const lines = markdown.split('\n');
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = /^```(\S*)/.exec(line);
    if (fence) {
      const code = [];
      i++;
      while (i < lines.length && !lines[i].startsWith('```')) code.push(lines[i++]);
      i++; // closing fence
      out.push(`<pre class="lang-${escapeHtml(fence[1] || 'text')}"><code>${escapeHtml(code.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      const level = heading[1].length;
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      i++;
      continue;
    }
    if (line.trimStart().startsWith('|')) {
      const rows = [];
      while (i < lines.length && lines[i].trimStart().startsWith('|')) rows.push(lines[i++]);
      out.push(renderTable(rows));
      continue;
    }
    if (LIST_ITEM.test(line)) {
      const items = [];
      while (i < lines.length && lines[i].trim() !== '' && (LIST_ITEM.test(lines[i]) || /^\s+\S/.test(lines[i]))) items.push(lines[i++]);
      out.push(renderList(items));
      continue;
    }
    if (line.startsWith('>')) {
      const quote = [];
      while (i < lines.length && lines[i].startsWith('>')) quote.push(lines[i++].replace(/^>\s?/, ''));
      out.push(`<blockquote>${inline(quote.join(' '))}</blockquote>`);
      continue;
    }
    const para = [];
    while (
      i < lines.length &&
      lines[i].trim() !== '' &&
      !/^(```|#{1,4}\s|\s*\||>)/.test(lines[i]) &&
      !LIST_ITEM.test(lines[i])
    ) {
      para.push(lines[i++].trim());
    }
    out.push(`<p>${inline(para.join(' '))}</p>`);
  }
  return out.join('\n');
}

/** Slides are separated by lines of exactly `---` outside code fences. */
export function splitSlides(markdown) {
  const slides = [[]];
  let fenced = false;
  for (const line of markdown.replace(/\r\n/g, '\n').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    if (!fenced && line.trim() === '---') slides.push([]);
    else slides[slides.length - 1].push(line);
  }
  return slides.map((s) => s.join('\n').trim()).filter((s) => s !== '');
}

const CSS = `
@page { size: 10in 5.625in; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; background: #fff; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d2733; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.slide { width: 10in; height: 5.625in; position: relative; overflow: hidden; page-break-after: always; break-after: page; border-top: 0.09in solid #1f6feb; }
.slide:last-child { page-break-after: auto; break-after: auto; }
.content { position: absolute; top: 0.32in; left: 0.55in; right: 0.55in; bottom: 0.42in; overflow: hidden; font-size: 16px; line-height: 1.36; }
.footer { position: absolute; bottom: 0.14in; left: 0.55in; right: 0.55in; font-size: 9.5px; color: #7a8794; display: flex; justify-content: space-between; }
h1 { font-size: 27px; margin: 0 0 0.14in 0; color: #0b3d91; letter-spacing: -0.2px; }
h2 { font-size: 19px; margin: 0.04in 0 0.1in 0; color: #1f6feb; font-weight: normal; }
h3 { font-size: 15.5px; margin: 0.08in 0 0.05in 0; color: #0b3d91; }
p { margin: 0.05in 0 0.08in 0; }
ul, ol { margin: 0.03in 0 0.08in 0; padding-left: 1.25em; }
li { margin: 0.025in 0; }
li > ul, li > ol { margin: 0.02in 0; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.88em; background: #eef2f7; border-radius: 3px; padding: 0 3px; }
pre { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 11.5px; line-height: 1.3; background: #f4f6f9; border-left: 3px solid #1f6feb; padding: 0.07in 0.12in; margin: 0.06in 0 0.1in 0; white-space: pre; overflow: hidden; }
pre code { background: none; padding: 0; font-size: 1em; }
table { border-collapse: collapse; margin: 0.06in 0 0.1in 0; font-size: 0.86em; width: 100%; }
th, td { border-bottom: 1px solid #d5dde6; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef2f7; color: #0b3d91; }
strong { color: #0b3d91; }
a { color: #1f6feb; text-decoration: none; }
blockquote { margin: 0.06in 0; padding: 0.04in 0.12in; border-left: 3px solid #9fb3c8; color: #4a5a6a; }
.title .content { display: flex; flex-direction: column; justify-content: center; }
.title h1 { font-size: 46px; margin-bottom: 0.08in; }
.title h2 { font-size: 23px; margin-bottom: 0.25in; }
.title p { font-size: 15px; color: #4a5a6a; }
.placeholder { color: #b42318; }
`;

// Runs in the page before printing: shrink a slide that overflows (in 4% steps, down to 70%),
// and mark the ones that still do not fit, for the build to refuse.
const FIT_SCRIPT = `
for (const slide of document.querySelectorAll('.slide')) {
  const content = slide.querySelector('.content');
  const base = parseFloat(getComputedStyle(content).fontSize);
  let scale = 1;
  const overflows = () => content.scrollHeight > content.clientHeight + 1 || content.scrollWidth > content.clientWidth + 1;
  while (overflows() && scale > 0.7) {
    scale = Math.round((scale - 0.04) * 100) / 100;
    content.style.fontSize = (base * scale) + 'px';
    for (const pre of content.querySelectorAll('pre')) pre.style.fontSize = (11.5 * scale) + 'px';
  }
  slide.setAttribute('data-scale', String(scale));
  if (overflows()) slide.setAttribute('data-overflow', 'true');
}
`;

export function renderDeck(markdown, title = 'codexec: case study') {
  const slides = splitSlides(markdown);
  const sections = slides.map((md, i) => {
    const cls = i === 0 ? 'slide title' : 'slide';
    const body = renderBlocks(md).replace(/\b([A-Z_]+_PLACEHOLDER)\b/g, '<span class="placeholder">$1</span>');
    return (
      `<section class="${cls}" id="slide-${i + 1}"><div class="content">${body}</div>` +
      `<div class="footer"><span>codexec · case study</span><span>${i + 1} / ${slides.length}</span></div></section>`
    );
  });
  return {
    count: slides.length,
    html:
      '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">` +
      `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>\n${sections.join('\n')}\n` +
      `<script>${FIT_SCRIPT}</script></body></html>\n`,
  };
}

// ---------------------------------------------------------------- Chromium

function findChromium() {
  const candidates = [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'].filter(Boolean);
  for (const c of candidates) {
    if (path.isAbsolute(c) && fs.existsSync(c)) return c;
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      const p = path.join(dir, c);
      if (dir && fs.existsSync(p)) return p;
    }
  }
  return null;
}

function chromiumArgs(profileDir) {
  const args = [
    '--headless',
    '--disable-gpu',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-default-apps',
    '--disable-extensions',
    '--disable-sync',
    '--allow-file-access-from-files',
    `--user-data-dir=${profileDir}`,
  ];
  // Chromium's own sandbox cannot start as root; the page is our own static file.
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  return args;
}

function run(chromium, args) {
  return execFileSync(chromium, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const input = path.resolve(ROOT, opts.in);
  const output = path.resolve(ROOT, opts.out);
  const { html, count } = renderDeck(fs.readFileSync(input, 'utf8'));
  if (count < 1) throw new Error(`${opts.in}: no slides`);

  const chromium = findChromium();
  if (!chromium) {
    process.stderr.write('build-deck: Chromium not found. Install it (Debian: apt-get install chromium) or set CHROMIUM=/path/to/chrome.\n');
    process.exit(1);
  }

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codexec-deck-'));
  try {
    const htmlFile = opts.html ? path.resolve(ROOT, opts.html) : path.join(work, 'deck.html');
    fs.writeFileSync(htmlFile, html);
    const url = pathToFileURL(htmlFile).href;
    const base = chromiumArgs(path.join(work, 'profile'));

    // The page after its fit script ran: which slides were shrunk, which still overflow.
    const dom = run(chromium, [...base, '--virtual-time-budget=5000', '--dump-dom', url]);
    const overflowing = [...dom.matchAll(/<section class="[^"]*" id="slide-(\d+)"[^>]*data-overflow="true"/g)].map((m) => Number(m[1]));
    const shrunk = [...dom.matchAll(/id="slide-(\d+)"[^>]*data-scale="(0\.\d+)"/g)].map((m) => `${m[1]} (${Math.round(Number(m[2]) * 100)}%)`);
    if (!dom.includes('data-scale=')) throw new Error('Chromium did not run the page (no layout information in its DOM dump)');
    if (overflowing.length > 0) {
      throw new Error(`slide(s) ${overflowing.join(', ')} do not fit on their page even at 70%: shorten them`);
    }

    // Printed beside the HTML, then moved into place: the old PDF stays until the new one is whole.
    const printed = path.join(work, 'deck.pdf');
    run(chromium, [...base, '--no-pdf-header-footer', '--print-to-pdf-no-header', `--print-to-pdf=${printed}`, url]);
    if (!fs.existsSync(printed) || fs.statSync(printed).size === 0) throw new Error('Chromium wrote no PDF');
    const pdf = fs.readFileSync(printed, 'latin1');
    fs.mkdirSync(path.dirname(output), { recursive: true });
    fs.copyFileSync(printed, `${output}.tmp`);
    fs.renameSync(`${output}.tmp`, output);

    const pages = (pdf.match(/\/Type\s*\/Page[^s]/g) ?? []).length;
    if (pages !== count) process.stderr.write(`build-deck: warning: ${count} slides but ${pages} PDF pages\n`);
    process.stdout.write(
      `${path.relative(ROOT, output)}: ${count} slides, ${pages} pages, ${(fs.statSync(output).size / 1024).toFixed(0)} KiB` +
        `${shrunk.length > 0 ? `; shrunk to fit: slide ${shrunk.join(', ')}` : ''}\n`,
    );
    if (/_PLACEHOLDER\b/.test(html)) process.stderr.write('build-deck: warning: the deck still contains a *_PLACEHOLDER\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (err) {
    process.stderr.write(`build-deck: ${err.message}\n`);
    process.exit(1);
  }
}

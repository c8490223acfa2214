import os from 'node:os';
import path from 'node:path';

// Parsers of CODEXEC_* values. Each says what it accepts in words (`accepts`), which `codexec
// --help` and the configuration table of docs/configuration.md print, so the documented range is
// the enforced one. Command-line flags go through the same parsers.

export interface Parser<T> {
  (raw: string): T;
  /** The accepted values, for people: "1 to 256", "16 MiB or more (a size: bytes, 64k, 512M, 1G)". */
  readonly accepts: string;
}

function parser<T>(accepts: string, parse: (raw: string) => T): Parser<T> {
  return Object.assign(parse, { accepts });
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

/** 16777216 -> "16 MiB"; sizes that are not a whole number of KiB stay in bytes. */
export function formatSize(n: number): string {
  for (const [unit, size] of [['TiB', TiB], ['GiB', GiB], ['MiB', MiB], ['KiB', KiB]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

function range(min: number, max: number, show: (n: number) => string): string {
  if (max >= Number.MAX_SAFE_INTEGER) return `${show(min)} or more`;
  return `${show(min)} to ${show(max)}`;
}

const group = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A whole number in [min, max]. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  parser(range(min, max, group), (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error(`expected a whole number, got ${JSON.stringify(raw)}`);
    const n = Number(raw);
    if (n < min || n > max) throw new Error(`expected ${range(min, max, String)}, got ${n}`);
    return n;
  });

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: KiB, m: MiB, g: GiB, t: TiB };

/**
 * A size in bytes: `1048576`, or a number with a binary unit: `64k`, `512M`, `1.5G`, `1GiB`, `1GB`
 * (k, M, G and T are 1024-based, as in Docker's and cgroups' own notation).
 */
export function parseSize(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(raw.trim());
  if (!m || (m[1].includes('.') && m[2] === '')) throw new Error(`expected a size such as 1048576, 64k, 512M or 1G, got ${JSON.stringify(raw)}`);
  const n = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(n)) throw new Error(`size too large: ${JSON.stringify(raw)}`);
  return n;
}

/** A size in bytes within [min, max], with or without a unit. */
export const bytes = (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  parser(`${range(min, max, formatSize)} (bytes, or 64k, 512M, 1G)`, (raw) => {
    const n = parseSize(raw);
    if (n < min || n > max) throw new Error(`expected ${range(min, max, formatSize)}, got ${formatSize(n)}`);
    return n;
  });

export const str: Parser<string> = parser('any text', (raw) => raw);

/** A directory: relative paths are resolved once, against the directory codexec starts in. */
export const dir: Parser<string> = parser('a directory path', (raw) => path.resolve(raw));

/** An http:// or https:// URL of a codexec server. */
export const httpUrl: Parser<string> = parser('an http:// or https:// URL', (raw) => {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new Error(`expected a URL such as http://localhost:8080, got ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`expected an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  return u.href.replace(/\/$/, '');
});

export const bool: Parser<boolean> = parser('1/0, true/false, yes/no, on/off', (raw) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  throw new Error(`expected 1/0/true/false, got ${JSON.stringify(raw)}`);
});

export const oneOf = <T extends string>(...values: T[]): Parser<T> =>
  parser(`one of ${values.join(', ')}`, (raw) => {
    if (!values.includes(raw as T)) throw new Error(`expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw as T;
  });

/** A comma-separated list of distinct values of `values` (`a,b`; empty: none). */
export const listOf = <T extends string>(...values: T[]): Parser<T[]> =>
  parser(`a comma-separated list of ${values.join(', ')} (empty: none)`, (raw) => {
    const items = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    const unknown = items.filter((s) => !values.includes(s as T));
    if (unknown.length > 0) throw new Error(`expected a comma-separated list of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    return [...new Set(items)] as T[];
  });

/**
 * Where the databases live when CODEXEC_DATA_DIR is not set: never the current directory, so that
 * `codexec run` started anywhere finds the queue `codexec serve` uses. Root (the normal case: the
 * sandbox needs it) gets the system location; another user gets their XDG data directory.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, euid: number | undefined = process.geteuid?.()): string {
  if (euid === 0) return '/var/lib/codexec';
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'codexec');
}

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, type ConfigVar } from '../../src/config/schema.js';
import { loadConfig } from '../../src/config/load.js';
import { JOB_DB_FILE_NAME } from '../../src/queue/open.js';

// codexec stops at startup on an unknown or invalid CODEXEC_* variable, so a typo in the compose
// file, .env.example or the Dockerfile would only show as a container that will not start. These
// tests read those files as text (no YAML dependency): docker-compose.yml is written in a small
// subset that `parseComposeEnvironments` understands strictly, and anything else in an
// environment block fails the test instead of being skipped.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (name: string) => fs.readFileSync(path.join(root, name), 'utf8');

const SPEC_BY_ENV = new Map<string, ConfigVar<unknown>>(Object.values(CONFIG_SCHEMA).map((s) => [s.env, s as ConfigVar<unknown>]));

/** Settings the compose file deliberately does not expose, and why. */
const NOT_IN_COMPOSE: Record<string, string> = {
  CODEXEC_URL: 'client setting of `codexec run/status`, not of a server',
  CODEXEC_API_KEY: 'client setting of `codexec run/status` (the key they send), not of a server',
  CODEXEC_DATABASE_URL: 'the stack is one host: SQLite on the shared volume (PostgreSQL is for several hosts)',
  CODEXEC_PROFILES_DIR: 'profiles ship in the image; a custom directory needs a mount (docs/docker.md)',
};

/** CODEXEC_ names the files mention anywhere (settings, comments, scripts). */
function codexecTokens(text: string): string[] {
  return [...text.matchAll(/(?<![A-Za-z0-9_])CODEXEC_[A-Z0-9_]*[A-Z0-9]/g)].map((m) => m[0]);
}

interface EnvEntry {
  name: string;
  /** The value as written, quotes removed; '' for `NAME:` (taken from the shell or .env). */
  raw: string;
  line: number;
}

/**
 * The `environment:` mapping of every service, with `<<: *anchor` merges resolved, from the
 * subset of YAML that docker-compose.yml uses: top-level `x-...: &anchor` mappings of variables,
 * and `services: / <name>: / environment:` mappings. Throws on anything else inside those blocks.
 */
function parseComposeEnvironments(text: string): { anchors: Map<string, EnvEntry[]>; services: Map<string, EnvEntry[]> } {
  const anchors = new Map<string, EnvEntry[]>();
  const services = new Map<string, EnvEntry[]>();
  let topLevel = '';
  let anchorEntries: EnvEntry[] | null = null;
  let service = '';
  let envEntries: EnvEntry[] | null = null;
  const lines = text.split('\n');
  const entryOf = (body: string, n: number): EnvEntry => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*):(?:\s+(.*?))?\s*$/.exec(body);
    if (!m) throw new Error(`docker-compose.yml:${n}: expected NAME: value in an environment mapping, got ${JSON.stringify(body)}`);
    const raw = (m[2] ?? '').replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
    return { name: m[1], raw, line: n };
  };
  lines.forEach((line, i) => {
    const n = i + 1;
    if (/^\s*(#.*)?$/.test(line)) return;
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (indent === 0) {
      topLevel = body.replace(/:.*$/, '');
      anchorEntries = null;
      service = '';
      envEntries = null;
      const anchor = /^x-[\w-]+:\s*&([\w-]+)\s*$/.exec(body);
      if (anchor) anchors.set(anchor[1], (anchorEntries = []));
      return;
    }
    if (anchorEntries) {
      if (indent !== 2) throw new Error(`docker-compose.yml:${n}: unexpected nesting in an x- block`);
      anchorEntries.push(entryOf(body, n));
      return;
    }
    if (topLevel !== 'services') return;
    if (indent === 2) {
      service = body.replace(/:.*$/, '');
      envEntries = null;
      return;
    }
    if (indent === 4) {
      envEntries = null;
      if (body === 'environment:') services.set(service, (envEntries = []));
      else if (body.startsWith('environment:')) throw new Error(`docker-compose.yml:${n}: write environment as a mapping on the following lines`);
      return;
    }
    if (!envEntries) return;
    if (indent !== 6) throw new Error(`docker-compose.yml:${n}: unexpected nesting in an environment mapping`);
    const merge = /^<<:\s*\*([\w-]+)$/.exec(body);
    if (merge) {
      const from = anchors.get(merge[1]);
      if (!from) throw new Error(`docker-compose.yml:${n}: unknown anchor ${merge[1]}`);
      envEntries.push(...from);
      return;
    }
    if (body.startsWith('- ')) throw new Error(`docker-compose.yml:${n}: write environment as a mapping, not a list`);
    envEntries.push(entryOf(body, n));
  });
  return { anchors, services };
}

const INTERPOLATION = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

/** What compose puts into the container for one entry, given the shell/.env variables. */
function resolveEntry(entry: EnvEntry, shell: Record<string, string>): string | undefined {
  if (entry.raw === '') return shell[entry.name];
  const m = INTERPOLATION.exec(entry.raw);
  if (m) return shell[m[1]] ? shell[m[1]] : (m[2] ?? '');
  if (entry.raw.includes('$')) throw new Error(`docker-compose.yml:${entry.line}: unsupported interpolation ${entry.raw}`);
  return entry.raw;
}

function serviceEnv(entries: EnvEntry[], shell: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of entries) {
    const v = resolveEntry(e, shell);
    if (v === undefined) delete env[e.name];
    else env[e.name] = v;
  }
  return env;
}

/** NAME=value lines of .env.example, commented out or not. */
function envExampleValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^#?\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].trim();
  }
  return out;
}

/** ENV NAME=value pairs of one Dockerfile ENV instruction (with line continuations). */
function dockerfileEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const joined = text.replace(/\\\n/g, ' ');
  for (const line of joined.split('\n')) {
    const m = /^ENV\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const pair of m[1].trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq < 0) throw new Error(`Dockerfile: write ENV as NAME=value, got ${pair}`);
      out[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return out;
}

const compose = read('docker-compose.yml');
const parsed = parseComposeEnvironments(compose);
const composeEntries = [...parsed.services.values()].flat();
const example = envExampleValues(read('.env.example'));
const imageEnv = dockerfileEnv(read('Dockerfile'));

describe('Docker files and the config schema', () => {
  it.each(['docker-compose.yml', 'docker-compose.cgroupv2.yml', 'docker-compose.postgres.yml', '.env.example', 'Dockerfile'])('every CODEXEC_ name in %s is a setting', (file) => {
    const tokens = codexecTokens(read(file));
    const unknown = [...new Set(tokens)].filter((t) => !SPEC_BY_ENV.has(t));
    expect(unknown).toEqual([]);
    if (file !== 'docker-compose.cgroupv2.yml') expect(tokens.length).toBeGreaterThan(0);
  });

  it('the compose file sets the environment of both services', () => {
    expect([...parsed.services.keys()].sort()).toEqual(['api', 'worker']);
    for (const entries of parsed.services.values()) expect(entries.length).toBeGreaterThan(10);
    // Every CODEXEC_ name in the file (outside comments) is an environment entry we parsed.
    const uncommented = compose.split('\n').filter((l) => !l.trim().startsWith('#')).join('\n');
    expect(new Set(codexecTokens(uncommented))).toEqual(new Set(composeEntries.map((e) => e.name)));
  });

  it('each entry interpolates its own name, with the built-in default', () => {
    for (const e of composeEntries) {
      const spec = SPEC_BY_ENV.get(e.name);
      expect(spec, `${e.name} (line ${e.line})`).toBeDefined();
      const m = INTERPOLATION.exec(e.raw);
      if (!m) continue;
      expect(m[1], `line ${e.line} reads another variable`).toBe(e.name);
      // `${X:-}` is left uninterpolated by podman-compose 1.0.x: write `X:` (pass-through) instead.
      expect(m[2], `line ${e.line}: give a default, or write "${e.name}:" to pass it through`).toBeTruthy();
      expect(spec!.parse(m[2]!), `default of ${e.name} (line ${e.line})`).toEqual(spec!.default);
    }
  });

  it('each service starts with the compose defaults (codexec rejects no variable)', () => {
    for (const [name, entries] of parsed.services) {
      const env = serviceEnv(entries, {});
      expect(() => loadConfig(env), name).not.toThrow();
    }
    const api = loadConfig(serviceEnv(parsed.services.get('api')!, {}));
    expect(api.executors).toBe(0);
    expect(api.port).toBe(8080);
  });

  it('each service starts with every value of .env.example set, and receives it', () => {
    for (const [name, entries] of parsed.services) {
      const env = serviceEnv(entries, example);
      expect(() => loadConfig(env), name).not.toThrow();
    }
    const worker = serviceEnv(parsed.services.get('worker')!, example);
    for (const [k, v] of Object.entries(example)) if (k.startsWith('CODEXEC_')) expect(worker[k], k).toBe(v);
  });

  it('.env.example documents exactly the settings an operator can change through compose', () => {
    const tunable = new Set(composeEntries.filter((e) => e.raw === '' || INTERPOLATION.test(e.raw)).map((e) => e.name));
    const documented = new Set(Object.keys(example).filter((k) => k.startsWith('CODEXEC_')));
    expect(documented).toEqual(tunable);
    // The compose-only variables are documented too.
    const composeOnly = [...compose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]).filter((k) => !k.startsWith('CODEXEC_'));
    for (const k of composeOnly) expect(Object.keys(example), k).toContain(k);
  });

  it('every setting is in the compose file or deliberately left out', () => {
    const inCompose = new Set(composeEntries.map((e) => e.name));
    const missing = [...SPEC_BY_ENV.keys()].filter((k) => !inCompose.has(k) && !(k in NOT_IN_COMPOSE));
    expect(missing).toEqual([]);
    for (const k of Object.keys(NOT_IN_COMPOSE)) expect(SPEC_BY_ENV.has(k), k).toBe(true);
  });

  it('the image defaults parse, and image, compose and entrypoint agree on the data directory', () => {
    const codexecEnv = Object.fromEntries(Object.entries(imageEnv).filter(([k]) => k.startsWith('CODEXEC_')));
    expect(() => loadConfig(codexecEnv)).not.toThrow();
    expect(loadConfig(codexecEnv).executors).toBe(0);
    const dataDir = imageEnv.CODEXEC_DATA_DIR;
    expect(dataDir).toMatch(/^\//);
    for (const entries of parsed.services.values()) expect(serviceEnv(entries, {}).CODEXEC_DATA_DIR).toBe(dataDir);
    expect(compose.match(new RegExp(`- codexec-data:${dataDir}$`, 'gm'))).toHaveLength(2);
    // The entrypoint creates the job database as the API's user (see the Dockerfile): it must use
    // the file name the queue opens.
    expect(read('Dockerfile')).toContain(`"$data/${JOB_DB_FILE_NAME}"`);
  });
});

// docker-compose.postgres.yml: the several-hosts stack (PostgreSQL, a balancer, two API nodes,
// two workers). Its settings block must stay docker-compose.yml's, so that .env means the same to
// both files; the services that run codexec must start with the defaults.
describe('docker-compose.postgres.yml', () => {
  const text = read('docker-compose.postgres.yml');
  const stack = parseComposeEnvironments(text);
  /** `${NAME:-default}` anywhere in a value, with no shell variables set. */
  const withDefaults = (entries: EnvEntry[]) =>
    Object.fromEntries(entries.map((e) => [e.name, e.raw.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, _k, d: string | undefined) => d ?? '')]));

  it('has the settings block of docker-compose.yml, entry for entry', () => {
    const mine = stack.anchors.get('codexec-settings')!.map((e) => [e.name, e.raw]);
    expect(mine).toEqual(parsed.anchors.get('codexec-settings')!.map((e) => [e.name, e.raw]));
  });

  it('runs PostgreSQL, a balancer, two API-only nodes and two workers on the one database', () => {
    expect([...stack.services.keys()].sort()).toEqual(['api-a', 'api-b', 'postgres', 'worker-a', 'worker-b']);
    expect(text).toMatch(/^  lb:$/m);
    const db = withDefaults(stack.services.get('postgres')!);
    for (const name of ['api-a', 'api-b', 'worker-a', 'worker-b']) {
      const env = withDefaults(stack.services.get(name)!);
      const config = loadConfig(env);
      const url = new URL(config.databaseUrl);
      expect([url.hostname, url.username, decodeURIComponent(url.password), url.pathname], name).toEqual(['postgres', db.POSTGRES_USER, db.POSTGRES_PASSWORD, `/${db.POSTGRES_DB}`]);
      if (name.startsWith('api')) expect([config.executors, config.port], name).toEqual([0, 8080]);
      else expect(config.workerMetricsPort, name).toBe(9464);
    }
    // The balancer sends to both nodes, on the port they listen on.
    const haproxy = read('deploy/haproxy.cfg');
    expect(haproxy).toMatch(/^\s*server api-a api-a:8080$/m);
    expect(haproxy).toMatch(/^\s*server api-b api-b:8080$/m);
  });
});

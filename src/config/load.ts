import { ConfigError } from '../domain/errors.js';
import { CONFIG_SCHEMA, type Config } from './schema.js';

/**
 * Parse every CODEXEC_* variable once into a frozen object. `overrides` (from CLI flags) win over
 * the environment. All invalid variables are reported together; an unknown CODEXEC_* variable is
 * an error too, so that a typo never silently falls back to a default.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const known = new Set<string>();
  for (const [key, spec] of Object.entries(CONFIG_SCHEMA)) {
    known.add(spec.env);
    const override = overrides[key as keyof Config];
    if (override !== undefined) {
      out[key] = override;
      continue;
    }
    const raw = env[spec.env];
    if (raw === undefined || raw === '') {
      out[key] = spec.default;
      continue;
    }
    try {
      out[key] = (spec.parse as (r: string) => unknown)(raw);
    } catch (err) {
      problems.push(`${spec.env}: ${(err as Error).message}`);
    }
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('CODEXEC_') && !known.has(name)) problems.push(`${name}: unknown variable (see \`codexec --help\`)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}

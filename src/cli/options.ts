import { Option } from 'commander';
import { CodexecError } from '../domain/errors.js';
import { CONFIG_SCHEMA } from '../config/schema.js';
import type { Config } from '../config/schema.js';

type Key = keyof typeof CONFIG_SCHEMA;

/** A CLI flag tied to a config variable: its help names the variable and the default. */
export function configOption(flags: string, key: Key): Option {
  const spec = CONFIG_SCHEMA[key];
  return new Option(flags, `${spec.description} [env ${spec.env}; default ${'defaultText' in spec ? spec.defaultText : JSON.stringify(spec.default)}; ${spec.parse.accepts}]`);
}

/** Flags given on the command line, parsed with the same parsers as the environment. */
export function flagOverrides(opts: Record<string, unknown>, keys: Partial<Record<string, Key>>): Partial<Record<keyof Config, unknown>> {
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const [flag, key] of Object.entries(keys)) {
    const raw = opts[flag];
    if (raw === undefined || key === undefined) continue;
    try {
      out[key] = (CONFIG_SCHEMA[key].parse as (r: string) => unknown)(String(raw));
    } catch (err) {
      throw new CodexecError('invalid_flag', 2, `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${(err as Error).message}`);
    }
  }
  return out;
}

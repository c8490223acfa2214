import { formatSize } from './parsers.js';
import { CONFIG_SCHEMA } from './schema.js';

// The configuration table of docs/configuration.md, generated from the schema: name, default,
// accepted values (the parser's own words) and description. test/docs checks the document holds
// exactly this table; `UPDATE_DOCS=1 npx vitest run test/docs` rewrites it.

function duration(ms: number): string {
  const day = 24 * 3600_000;
  if (ms % day === 0 && ms >= 2 * day) return `${ms / day} days`;
  for (const [size, unit] of [[3600_000, 'h'], [60_000, 'min'], [1000, 's']] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms / 1000} s`;
}

/** The default as the table shows it: the value, with its size or duration in words when it helps. */
export function defaultCell(env: string, def: unknown, defaultText?: string): string {
  if (defaultText) return defaultText;
  if (def === '') return 'empty';
  const shown = `\`${String(def)}\``;
  if (typeof def === 'number' && env.endsWith('_BYTES') && def >= 1024) return `${shown} (${formatSize(def)})`;
  if (typeof def === 'number' && env.endsWith('_MS') && def >= 1000) return `${shown} (${duration(def)})`;
  return shown;
}

export function configTableMarkdown(): string {
  const rows = Object.values(CONFIG_SCHEMA).map((spec) => {
    const text = 'defaultText' in spec ? spec.defaultText : undefined;
    return `| \`${spec.env}\` | ${defaultCell(spec.env, spec.default, text)} | ${spec.parse.accepts} | ${spec.description} |`;
  });
  return ['| variable | default | accepts | description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

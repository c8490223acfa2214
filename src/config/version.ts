import fs from 'node:fs';

let cached: string | undefined;

/** The version of this codexec package (package.json), for logs, `codexec status` and GET /status. */
export function codexecVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}

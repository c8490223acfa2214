import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Child processes in tests run plain `node`, which cannot import TypeScript. They load the sources
// themselves through scripts/ts-register.mjs (the same hooks the unisolated host's threads use
// when running from src/), so no test depends on a `dist/` that may be stale or missing.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Node options for a child that imports sources of src/. */
export const TS_CHILD_EXEC_ARGV: string[] = ['--import', pathToFileURL(path.join(ROOT, 'scripts', 'ts-register.mjs')).href];

/** The absolute path of a source file, by its path from the repository root (`src/queue/open.ts`). */
export function srcModule(relative: string): string {
  return path.join(ROOT, relative);
}

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The file a worker thread runs, `<name>.js` next to the module at `moduleUrl` (its
 * `import.meta.url`), and the Node options the thread needs to load it. Built, that is the
 * compiled file in dist/; running from src/ (vitest), it is `<name>.ts`, loaded through
 * scripts/ts-register.mjs, so no test needs a build.
 */
export function threadEntry(moduleUrl: string, name: string): { filename: string; execArgv: string[] } {
  const dir = path.dirname(fileURLToPath(moduleUrl));
  const compiled = path.join(dir, `${name}.js`);
  if (fs.existsSync(compiled)) return { filename: compiled, execArgv: [] };
  const source = path.join(dir, `${name}.ts`);
  const register = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'ts-register.mjs');
  if (fs.existsSync(source) && fs.existsSync(register)) return { filename: source, execArgv: ['--import', pathToFileURL(register).href] };
  throw new Error(`the thread entry ${name} is missing next to ${dir}: reinstall codexec`);
}

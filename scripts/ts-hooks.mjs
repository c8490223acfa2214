// Module hooks that let Node run this package's TypeScript sources directly, for the one place
// that needs it: the unisolated host's worker threads when the code runs from src/ (vitest), so
// no test needs `npm run build` first. Registered by scripts/ts-register.mjs; never used from
// dist/. The transform is rolldown's (oxc), which vitest already installs through vite; it only
// strips types, like `tsc` does for dist/.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'rolldown/experimental';

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    // Sources import each other as './x.js' (NodeNext); from src/ the file is './x.ts'.
    if (specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) return next(specifier.slice(0, -3) + '.ts', context);
    throw err;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const file = fileURLToPath(url);
  const out = transformSync(file, fs.readFileSync(file, 'utf8'), { lang: 'ts', sourcemap: false });
  if (out.errors.length > 0) throw new Error(`${file}: ${out.errors.map((e) => e.message).join('; ')}`);
  return { format: 'module', source: out.code, shortCircuit: true };
}

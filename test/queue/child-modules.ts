import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// Child processes in these tests run plain `node`, which cannot import TypeScript. Rather than
// depend on a `dist/` that may be stale when a test is run on its own, the sources the children
// need (src/queue and src/domain) are transpiled afresh into a temporary directory, with a
// node_modules link so that `better-sqlite3` resolves. Type-only imports disappear in the output.

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const DIRS = ['src/queue', 'src/domain'];

function* tsFiles(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(full);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield full;
  }
}

/** Transpiles src/queue and src/domain under `outDir`; returns the path of a module by its src path. */
export function transpileForChildren(outDir: string): (srcPath: string) => string {
  for (const dir of DIRS) {
    for (const file of tsFiles(path.join(repoRoot, dir))) {
      const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      const out = path.join(outDir, path.relative(repoRoot, file)).replace(/\.ts$/, '.js');
      fs.mkdirSync(path.dirname(out), { recursive: true });
      fs.writeFileSync(out, outputText);
    }
  }
  fs.writeFileSync(path.join(outDir, 'package.json'), JSON.stringify({ type: 'module' }));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(outDir, 'node_modules'), 'dir');
  return (srcPath) => path.join(outDir, srcPath.replace(/\.ts$/, '.js'));
}

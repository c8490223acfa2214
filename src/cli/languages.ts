import type { Command } from 'commander';

export function registerLanguages(program: Command): void {
  program
    .command('languages')
    .description('List the languages of sandbox-profiles/ with their versions and whether this host has their toolchain')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { loadConfig } = await import('../config/load.js');
      const { LanguageRegistry } = await import('../languages/registry.js');
      const { profilesDir } = await import('./context.js');
      const config = loadConfig(process.env);
      const reg = await LanguageRegistry.load(profilesDir(config), config);
      const list = reg.list().map((l) => ({ id: l.id, name: l.name, version: l.version, available: l.available, extensions: l.extensions, compiled: l.compile !== null, missing: l.missing }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      for (const l of list) {
        const state = l.available ? 'ok     ' : 'missing';
        process.stdout.write(`${state}  ${l.id.padEnd(12)} ${(l.version ?? '-').padEnd(12)} ${l.name}  (${l.extensions.join(' ')})${l.available ? '' : `  needs: ${l.missing.join('; ')}`}\n`);
      }
    });
}

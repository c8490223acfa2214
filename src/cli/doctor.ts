import type { Command } from 'commander';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('Check what this host supports: root, namespaces, cgroups, seccomp, the launcher, each language; then run one sandboxed program')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const { runDoctor } = await import('./doctor-checks.js');
      const checks = await runDoctor();
      if (opts.json) process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      else {
        for (const c of checks) {
          process.stdout.write(`${c.ok ? 'ok     ' : c.warning ? 'warning' : 'missing'}  ${c.name.padEnd(26)} ${c.detail}\n`);
          if (!c.ok && c.hint) process.stdout.write(`         ${''.padEnd(26)} hint: ${c.hint}\n`);
        }
      }
      const essential = checks.filter((c) => !c.name.startsWith('language:') && !c.warning);
      process.exitCode = essential.every((c) => c.ok) ? 0 : 1;
    });
}

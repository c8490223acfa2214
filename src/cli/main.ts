import { Command } from 'commander';
import { CodexecError } from '../domain/errors.js';
import { CONFIG_SCHEMA } from '../config/schema.js';
import { registerServe } from './serve.js';
import { registerWorker } from './worker.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerDoctor } from './doctor.js';
import { registerLanguages } from './languages.js';

// Command modules are light: each imports what it needs (Fastify, SQLite, the sandbox) when it
// runs, so `codexec --help` and `codexec run` do not pay for the whole server.
const program = new Command();
program
  .name('codexec')
  .description('Run untrusted code for learning platforms: HTTP API, queue, sandboxed executors')
  .option('--verbose', 'print stack traces on errors')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `\nConfiguration (environment; flags override):\n${Object.values(CONFIG_SCHEMA)
      .map((v) => `  ${v.env.padEnd(40)} ${v.description} (default ${JSON.stringify(v.default)})`)
      .join('\n')}\n\nQuick start:\n  codexec serve                 # API on :8080 with embedded executors\n  codexec run hello.py          # run a file, print its output\n  codexec status                # the queue at a glance\n`,
  );
registerServe(program);
registerWorker(program);
registerRun(program);
registerStatus(program);
registerDoctor(program);
registerLanguages(program);

function fail(err: unknown): never {
  const verbose = program.opts().verbose || process.argv.includes('--verbose');
  if (verbose && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  const msg = err instanceof CodexecError ? err.message : err instanceof Error ? err.message : String(err);
  process.stderr.write(`codexec: ${msg}\n`);
  process.exit(err instanceof CodexecError && err.statusCode === 2 ? 2 : 1);
}

process.on('unhandledRejection', fail);
program.parseAsync(process.argv).catch(fail);

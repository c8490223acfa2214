import { Command, CommanderError } from 'commander';
import { CONFIG_SCHEMA } from '../config/schema.js';
import { codexecVersion } from '../config/version.js';
import { exitQuietlyOnClosedPipes, exitStatusFor, messageOf } from './errors.js';
import { registerServe } from './serve.js';
import { registerWorker } from './worker.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerDoctor } from './doctor.js';
import { registerLanguages } from './languages.js';
import { registerKeys } from './keys.js';

function configHelp(): string {
  return Object.values(CONFIG_SCHEMA)
    .map((v) => `  ${v.env.padEnd(40)} ${v.description}\n  ${''.padEnd(40)} default ${v.defaultText ?? JSON.stringify(v.default)}; accepts ${v.parse.accepts}`)
    .join('\n');
}

// Command modules are light: each imports what it needs (Fastify, SQLite, the sandbox) when it
// runs, so `codexec --help` and `codexec run` do not pay for the whole server.
const program = new Command();
program
  .name('codexec')
  .description('Run untrusted code for learning platforms: HTTP API, queue, sandboxed executors')
  .version(codexecVersion(), '-V, --version')
  .option('--verbose', 'print stack traces on errors')
  // Usage errors (an unknown option, a missing argument) end in `fail` below with exit status 2,
  // like an invalid flag value; subcommands inherit both settings.
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`codexec: ${messageOf(text.trimEnd())}\n`) })
  .showHelpAfterError('(add --help for usage)')
  .addHelpText(
    'after',
    `\nConfiguration (environment; flags override):\n${configHelp()}\n\nQuick start:\n  codexec serve                 # API on :8080 with embedded executors\n  codexec run hello.py          # run a file, print its output\n  codexec status                # the queue at a glance\n\nDocumentation: README.md and docs/ in the package (docs/cli.md for every command).\n`,
  );
registerServe(program);
registerWorker(program);
registerRun(program);
registerStatus(program);
registerDoctor(program);
registerLanguages(program);
registerKeys(program);

function fail(err: unknown): never {
  // Commander already printed its message (help, version, or a usage error).
  if (err instanceof CommanderError) process.exit(exitStatusFor(err));
  const verbose = program.opts().verbose || process.argv.includes('--verbose');
  if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.stderr.write(`codexec: ${messageOf(err)}\n`);
  process.exit(exitStatusFor(err));
}

exitQuietlyOnClosedPipes(fail);
process.on('unhandledRejection', fail);
program.parseAsync(process.argv).catch(fail);

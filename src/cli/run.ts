import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { CodexecError } from '../domain/errors.js';
import type { ExecutionResponse } from '../api/schemas/executions.js';
import { formatSize } from '../config/parsers.js';
import type { CodexecClient, Submission } from './client.js';
import { casesTable, readTestDir } from './test-dir.js';
import { formatBytes, summaryLine } from './format.js';
import { createProgress, type Progress } from './progress.js';
import { MEMORY_LIMIT_BYTES, TIME_LIMIT_MS, parseMemoryLimit, parseTimeLimit } from './run-flags.js';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'TIMEOUT']);

/** The program's exit code when it ran; 124 on a timeout (like timeout(1)); 1 for other failures. */
export function exitCodeFor(e: ExecutionResponse): number {
  if (e.status === 'COMPLETED') return e.verdict === 'wrong_answer' ? 1 : 0;
  if (e.status === 'TIMEOUT') return 124;
  if (e.exit_code !== null && e.exit_code !== 0) return e.exit_code;
  return 1;
}

function readInput(file: string, what: string, maxBytes: number): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new CodexecError('file_not_found', 2, `${what} ${file}: no such file`);
  }
  if (!st.isFile()) throw new CodexecError('not_a_file', 2, `${what} ${file}: not a regular file`);
  if (st.size > maxBytes) throw new CodexecError('input_file_too_large', 2, `${what} ${file} is ${formatBytes(st.size)}; the limit is ${formatBytes(maxBytes)}`);
  return fs.readFileSync(file, 'utf8');
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Run a file through the queue and print its output; exits with the program\'s exit code')
    .argument('<file>', 'source file; the language comes from its extension unless --language')
    .option('-l, --language <id>', 'language id or alias (see `codexec languages`)')
    .option('--stdin <file>', 'file to feed to the program\'s standard input')
    .option('--expected <file>', 'expected output: prints a verdict (passed / wrong_answer)')
    .option('--tests <dir>', 'test cases: NAME.in (input, optional) and NAME.out (expected output) pairs; prints a table, exits 1 unless every case passes')
    .addOption(new Option('--comparison <mode>', 'how output is compared with the expected output').choices(['trailing_whitespace', 'exact', 'tokens']))
    .option('--time-limit <ms>', `wall-clock and CPU time limit in ms, ${TIME_LIMIT_MS.min} to ${TIME_LIMIT_MS.max} (clamped to the language maximum)`)
    .option('--memory-limit <size>', `memory limit: bytes, or 64k, 512M, 1G; ${formatSize(MEMORY_LIMIT_BYTES.min)} or more (clamped to the language maximum)`)
    .addOption(new Option('--server <url>', 'codexec server to submit to [env CODEXEC_URL; default: the local database in CODEXEC_DATA_DIR]'))
    .option('--json', 'print the execution object as JSON instead of the output')
    .addHelpText(
      'after',
      '\nExamples:\n  codexec run hello.py\n  codexec run main.c --stdin input.txt --expected output.txt\n  codexec run solution.py --tests cases/\n  codexec run solution.js --server http://localhost:8080 --json\n  codexec run big.py --memory-limit 512M --time-limit 10000\n\n' +
        'Exit status: the program\'s exit code; 124 on a timeout; 1 on other failures or a wrong answer; 2 on a usage error.\n' +
        'Ctrl-C (or SIGTERM) cancels the execution and exits 130 (143).\n',
    )
    .action(async (file: string, opts: Record<string, string | boolean | undefined>) => {
      const { default: ora } = await import('ora');
      const { loadConfig } = await import('../config/load.js');
      const { createCliLogger } = await import('../observability/logger.js');
      const { HttpClient, LocalClient } = await import('./client.js');
      const { startExecutor } = await import('./context.js');
      const { flagOverrides } = await import('./options.js');
      const config = loadConfig(process.env, flagOverrides({ server: opts.server }, { server: 'url' }));
      const server = config.url || undefined;
      const timeLimitMs = parseTimeLimit(opts.timeLimit as string | undefined);
      const memoryLimitBytes = parseMemoryLimit(opts.memoryLimit as string | undefined);
      const source = readInput(file, 'source file', config.maxSourceBytes);
      const stdin = opts.stdin ? readInput(String(opts.stdin), 'stdin file', config.maxStdinBytes) : '';
      const expected = opts.expected ? readInput(String(opts.expected), 'expected output file', config.maxStdinBytes) : null;
      if (opts.tests && (opts.stdin || opts.expected)) throw new CodexecError('invalid_flag', 2, '--tests: give the input and expected output as case files, not with --stdin/--expected');
      const testCases = opts.tests
        ? readTestDir(String(opts.tests), { maxCases: config.maxTestCases, maxInputBytes: config.maxStdinBytes, maxOutputBytes: config.outputBytes })
        : undefined;

      let client: CodexecClient;
      let stopExecutor: (() => Promise<void>) | null = null;
      if (server) client = new HttpClient(server);
      else {
        const local = await LocalClient.open(config);
        client = local;
        // Our own executor on the local database; a running `codexec serve` may take the job first.
        // Its log goes to stderr as readable lines: stdout carries only the program's output.
        const logger = createCliLogger({ logLevel: process.env.CODEXEC_LOG_LEVEL ? config.logLevel : 'warn' });
        const handle = await startExecutor(config, local.queue, { slots: 1, runner: 'inline', logger });
        stopExecutor = async () => {
          await handle.executor.stop(0);
          await handle.close();
        };
      }
      try {
        let language = opts.language as string | undefined;
        if (!language) {
          const ext = path.extname(file).toLowerCase();
          const match = (await client.languages()).find((l) => l.extensions.includes(ext));
          if (!match) throw new CodexecError('unknown_extension', 2, `cannot tell the language of ${file} from "${ext}": pass --language (see \`codexec languages\`)`);
          language = match.id;
        }
        const comparison = opts.comparison as Submission['comparison'];
        const id = await client.submit({ language, sourceCode: source, stdin, expectedOutput: expected, testCases, comparison, timeLimitMs, memoryLimitBytes });
        const progress = createProgress(id, { show: !opts.json, stream: process.stderr, ora });
        stopOnSignals(async (signal) => {
          progress.stop();
          // Ctrl-C cancels the run, wherever it is: a queued one ends at once, a running one has its
          // process tree killed by the executor running it (ours, or a server's).
          const canceled = await client.cancel(id).catch((err: Error) => {
            process.stderr.write(`codexec: ${signal}: could not cancel execution ${id}: ${err.message}\n`);
            return undefined;
          });
          if (canceled !== undefined) {
            process.stderr.write(canceled === null ? `codexec: ${signal}: execution ${id} had already finished\n` : `codexec: ${signal}: execution ${id} canceled\n`);
          }
          await stopExecutor?.();
          await client.close();
        });
        const result = await waitForResult(client, id, progress);
        if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else if (testCases) {
          if (result.compile_output && result.failure_reason === 'compile_error') process.stderr.write(result.compile_output);
          if (result.test_cases) process.stdout.write(casesTable(result));
          process.stderr.write(`${summaryLine(result)}\n`);
        } else {
          if (result.compile_output && result.failure_reason === 'compile_error') process.stderr.write(result.compile_output);
          process.stdout.write(result.stdout);
          process.stderr.write(result.stderr);
          process.stderr.write(`${summaryLine(result)}\n`);
        }
        process.exitCode = exitCodeFor(result);
      } finally {
        await stopExecutor?.();
        await client.close();
      }
    });
}

/** Poll until terminal, showing QUEUED -> RUNNING with the elapsed time. */
async function waitForResult(client: CodexecClient, id: string, progress: Progress): Promise<ExecutionResponse> {
  const started = Date.now();
  let delay = 10;
  for (;;) {
    const e = await client.execution(id);
    progress.update(e.status, (Date.now() - started) / 1000);
    if (TERMINAL.has(e.status)) {
      progress.stop();
      return e;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(200, delay * 2);
  }
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };
/** How long cleanup after Ctrl-C may take before the process exits anyway. */
const STOP_TIMEOUT_MS = 3000;

/**
 * SIGINT/SIGTERM while waiting: run `stop` (bounded in time), then exit 128 + the signal number,
 * as a shell reports a process killed by it. A second signal exits at once.
 */
function stopOnSignals(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    const status = 128 + (SIGNAL_NUMBERS[signal] ?? 1);
    if (stopping) process.exit(status);
    stopping = true;
    const timer = setTimeout(() => process.exit(status), STOP_TIMEOUT_MS);
    stop(signal)
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        process.exit(status);
      });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

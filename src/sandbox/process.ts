import { execa } from 'execa';
import { FD } from './command.js';

// How an execution's launcher is started. Two ways, one contract: the launcher's descriptors
// (FD in command.ts) come back to the worker as chunks, and `done` gives the launcher's exit code.
//   - fork server (default): a long-lived `codexec-launcher --server` per slot clones init into
//     fresh namespaces (fork-server.ts);
//   - exec: execa spawns `unshare --pid --mount --net --ipc --uts -- codexec-launcher ...` per run
//     (util-linux creates the namespaces; one fork of Node and two extra execs per execution).

/** Data the launcher wrote on one of its descriptors (stdout, stderr, status, compile output). */
export type StreamChunkHandler = (fd: number, chunk: Buffer) => void;

export interface SandboxProcess {
  /** Settles when the launcher has ended and its output is drained: its exit code, or null when killed. */
  done: Promise<number | null>;
  /** Kill the whole execution (every process of it dies with init). */
  kill(): void;
}

/** Wait this long for the pipes to drain after the launcher exited (something may hold them open). */
const DRAIN_MS = 1000;

/** The exec way: spawn `unshare ... -- launcher ...` for this one execution. */
export function startExecChain(cmd: { file: string; args: string[] }, input: Buffer, stdin: Buffer, onChunk: StreamChunkHandler): SandboxProcess {
  const child = execa(cmd.file, cmd.args, {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    extendEnv: false,
    env: {},
    buffer: false,
    reject: false,
    encoding: 'buffer',
    stripFinalNewline: false,
    killSignal: 'SIGKILL',
    forceKillAfterDelay: false,
    // No signal-exit handlers per run (measured ~6 ms CPU per execution under load): the launcher
    // and its init die with this thread anyway (PR_SET_PDEATHSIG, checked against races).
    cleanup: false,
  });
  const streams = child.stdio as unknown as (NodeJS.ReadableStream & NodeJS.WritableStream)[];
  const drained = [FD.stdout, FD.stderr, FD.status, FD.compileOutput].map((fd) => drain(streams[fd], (c) => onChunk(fd, c)));
  writeAndClose(streams[FD.input], input);
  writeAndClose(streams[FD.stdin], stdin);
  const done = (async () => {
    const result = await child;
    await Promise.race([Promise.all(drained), new Promise((r) => setTimeout(r, DRAIN_MS))]);
    return typeof result.exitCode === 'number' ? result.exitCode : null;
  })();
  return { done, kill: () => child.kill('SIGKILL') };
}

function drain(stream: NodeJS.ReadableStream | undefined, onChunk: (c: Buffer) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  return new Promise((resolve) => {
    stream.on('data', (c: Buffer) => onChunk(c));
    stream.on('end', () => resolve());
    stream.on('close', () => resolve());
    stream.on('error', () => resolve());
  });
}

function writeAndClose(stream: NodeJS.WritableStream | undefined, data: Buffer): void {
  if (!stream) return;
  // The program may never read stdin, or exit first: EPIPE here is normal.
  stream.on('error', () => {});
  stream.end(data);
}

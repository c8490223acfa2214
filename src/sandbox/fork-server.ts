import { execa } from 'execa';
import { encodeFrame, encodeRunRequest, FRAME, FRAME_HEADER_BYTES, MAX_FRAME_BYTES, MAX_REQUEST_BYTES, REQUEST } from './protocol.js';
import type { SharedRoot } from './spec.js';

// The worker's end of the launcher's fork server (`codexec-launcher --server`, native/server.c):
// one long-lived static process per executor slot that clones each execution's init straight into
// fresh namespaces (ahead of the request: a standby init waits for its options, PROTOCOL.md).
// Spawning from Node forks the whole Node process (every page of it write-protected, the API
// thread included); this spawns once per slot instead of once per run.
//
// The frames both ways are described in native/PROTOCOL.md (constants: protocol.ts).

/** Data init's descriptor `fd` gave (stdout, stderr, status, compile output, export). */
export type StreamChunkHandler = (fd: number, chunk: Buffer) => void;

export interface SandboxProcess {
  /** Resolves when a fork server has taken the request (the pool may queue it until one is free). */
  started: Promise<void>;
  /** Settles when init has ended and its output is drained: its exit code, or null when killed. */
  done: Promise<number | null>;
  /** Kill the whole execution (every process of it dies with init). */
  kill(): void;
}

const DATA_FRAMES: readonly string[] = [FRAME.stdout, FRAME.stderr, FRAME.status, FRAME.compileOutput, FRAME.export];

export class ForkServerError extends Error {
  readonly code = 'fork_server_failed';
  readonly details = { step: 'fork-server' };
}

interface Running {
  onChunk: StreamChunkHandler;
  resolve: (code: number | null) => void;
  reject: (err: Error) => void;
}

export class ForkServer {
  private readonly child: ReturnType<typeof spawnServer>;
  private pending: Buffer = Buffer.alloc(0);
  private running: Running | null = null;
  private dead: Error | null = null;

  /**
   * `cgroupProcs`: the servers' group (cgroup.procs per hierarchy), joined before it serves.
   * `root`: the part of the root its standby builds ahead; every request's binds and masks must
   * begin with it (spec.ts, sharedRoot). None: each request builds its whole root.
   */
  constructor(launcherPath: string, cgroupProcs: string[] = [], root: SharedRoot = { binds: [], maskedPaths: [] }) {
    this.child = spawnServer(launcherPath, cgroupProcs, root);
    this.setRef(false);
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stdin.on('error', () => {});
    void this.child.then((r) => this.fail(new ForkServerError(`the fork server exited (${r.signal ?? r.exitCode ?? 'unknown'})`)));
  }

  get alive(): boolean {
    return this.dead === null;
  }

  /** Start one execution: `launcherArgs` are the options the launcher takes on its command line. */
  start(launcherArgs: string[], input: Buffer, stdin: Buffer, onChunk: StreamChunkHandler): SandboxProcess {
    if (this.dead) throw this.dead;
    if (this.running) throw new ForkServerError('the fork server is already running an execution');
    const request = encodeRunRequest(launcherArgs, input, stdin);
    if (request.length > MAX_REQUEST_BYTES) throw new ForkServerError(`the request takes ${request.length} bytes: the fork server accepts at most ${MAX_REQUEST_BYTES}`);
    const done = new Promise<number | null>((resolve, reject) => {
      this.running = { onChunk, resolve, reject };
    });
    this.setRef(true);
    this.child.stdin.write(encodeFrame(REQUEST.run, request));
    return {
      started: Promise.resolve(),
      done,
      kill: () => {
        if (this.running && !this.dead) this.child.stdin.write(encodeFrame(REQUEST.kill, Buffer.alloc(0)));
      },
    };
  }

  close(): void {
    this.child.stdin.end();
  }

  /** For tests and shutdown: end the server at once. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** An idle server does not keep the process alive; a running execution does. */
  private setRef(active: boolean): void {
    const handles = [this.child, this.child.stdout, this.child.stdin] as unknown as { ref(): void; unref(): void }[];
    for (const h of handles) {
      if (active) h.ref?.();
      else h.unref?.();
    }
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= FRAME_HEADER_BYTES) {
      const len = this.pending.readUInt32LE(1);
      if (len > MAX_FRAME_BYTES) return this.fail(new ForkServerError(`malformed frame from the fork server (${len} bytes)`), true);
      if (this.pending.length < FRAME_HEADER_BYTES + len) break;
      const type = String.fromCharCode(this.pending[0]!);
      const data = this.pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len);
      this.pending = this.pending.subarray(FRAME_HEADER_BYTES + len);
      this.onFrame(type, data);
    }
  }

  private onFrame(type: string, data: Buffer): void {
    const run = this.running;
    if (!run) return this.fail(new ForkServerError(`unexpected frame ${JSON.stringify(type)} from an idle fork server`), true);
    if (type === FRAME.exit) {
      this.running = null;
      this.setRef(false);
      const code = data.length === 4 ? data.readInt32LE(0) : -1;
      run.resolve(code >= 0 ? code : null);
      return;
    }
    if (DATA_FRAMES.includes(type)) run.onChunk(Number(type), Buffer.from(data));
    else this.fail(new ForkServerError(`unknown frame ${JSON.stringify(type)} from the fork server`), true);
  }

  private fail(err: Error, kill = false): void {
    if (this.dead) return;
    this.dead = err;
    if (kill) this.kill();
    const run = this.running;
    this.running = null;
    run?.reject(err);
  }
}

function spawnServer(launcherPath: string, cgroupProcs: string[], root: SharedRoot) {
  const args = ['--server', '--parent', String(process.pid), ...cgroupProcs.flatMap((p) => ['--cgroup', p])];
  args.push(...root.binds.flatMap((p) => ['--ro', p]), ...root.maskedPaths.flatMap((p) => ['--mask', p]));
  return execa(launcherPath, args, {
    stdio: ['pipe', 'pipe', 'ignore'],
    extendEnv: false,
    env: {},
    buffer: false,
    reject: false,
    encoding: 'buffer',
    // It dies with this thread (PDEATHSIG) and when its stdin closes: no signal-exit handlers.
    cleanup: false,
  });
}

import { execa } from 'execa';
import type { SandboxProcess, StreamChunkHandler } from './process.js';

// The worker's end of the launcher's fork server (`codexec-launcher --server`, native/launcher.c):
// one long-lived static process per executor slot that clones each execution's init straight into
// fresh namespaces. Spawning from Node forks the whole Node process (every page of it
// write-protected, the API thread included); this spawns once per slot instead of once per run.
//
// Messages both ways are u8 type, u32 length (little endian), payload; see the launcher's comment.

const HEADER = 5;
/** Bytes buffered from the server before a frame is complete; the server sends at most 64 KiB of data per frame. */
const MAX_FRAME = 1 << 20;

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

  constructor(launcherPath: string) {
    this.child = spawnServer(launcherPath);
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
    const parts: Buffer[] = [u32(launcherArgs.length)];
    for (const a of launcherArgs) parts.push(Buffer.from(`${a}\0`, 'utf8'));
    parts.push(u32(input.length), input, u32(stdin.length), stdin);
    const done = new Promise<number | null>((resolve, reject) => {
      this.running = { onChunk, resolve, reject };
    });
    this.setRef(true);
    this.send('R', Buffer.concat(parts));
    return {
      done,
      kill: () => {
        if (this.running && !this.dead) this.send('K', Buffer.alloc(0));
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

  private send(type: 'R' | 'K', payload: Buffer): void {
    const head = Buffer.alloc(HEADER);
    head.write(type, 0, 'latin1');
    head.writeUInt32LE(payload.length, 1);
    this.child.stdin.write(payload.length ? Buffer.concat([head, payload]) : head);
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= HEADER) {
      const len = this.pending.readUInt32LE(1);
      if (len > MAX_FRAME) return this.fail(new ForkServerError(`malformed frame from the fork server (${len} bytes)`), true);
      if (this.pending.length < HEADER + len) break;
      const type = String.fromCharCode(this.pending[0]!);
      const data = this.pending.subarray(HEADER, HEADER + len);
      this.pending = this.pending.subarray(HEADER + len);
      this.onFrame(type, data);
    }
  }

  private onFrame(type: string, data: Buffer): void {
    const run = this.running;
    if (!run) return this.fail(new ForkServerError(`unexpected frame ${JSON.stringify(type)} from an idle fork server`), true);
    if (type === 'X') {
      this.running = null;
      this.setRef(false);
      const code = data.length === 4 ? data.readInt32LE(0) : -1;
      run.resolve(code >= 0 ? code : null);
      return;
    }
    const fd = Number(type);
    if (fd === 1 || fd === 2 || fd === 4 || fd === 5) run.onChunk(fd, Buffer.from(data));
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

/** Fork servers for one sandbox host: one per execution running at the same time, started on demand. */
export class ForkServerPool {
  private readonly idle: ForkServer[] = [];
  private readonly all = new Set<ForkServer>();
  private closed = false;

  constructor(private readonly launcherPath: string) {}

  start(launcherArgs: string[], input: Buffer, stdin: Buffer, onChunk: StreamChunkHandler): SandboxProcess {
    if (this.closed) throw new ForkServerError('the sandbox host is closed');
    let server = this.idle.pop();
    while (server && !server.alive) server = this.idle.pop();
    if (!server) {
      server = new ForkServer(this.launcherPath);
      this.all.add(server);
    }
    const s = server;
    const proc = s.start(launcherArgs, input, stdin, onChunk);
    const release = () => {
      if (s.alive && !this.closed) this.idle.push(s);
      else this.all.delete(s);
    };
    proc.done.then(release, release);
    return proc;
  }

  close(): void {
    this.closed = true;
    for (const s of this.all) s.close();
    this.all.clear();
    this.idle.length = 0;
  }
}

function spawnServer(launcherPath: string) {
  return execa(launcherPath, ['--server', '--parent', String(process.pid)], {
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

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

// Covert channels between two concurrent executions (issue 12; DESIGN.md section 6, "What remains"):
// a sender and a receiver, two sandboxed python runs started at once through codexec's own sandbox
// (every layer, default seccomp profile), share nothing but what the sandbox leaves shared. The
// sender signals random bits, one per period, from an agreed start on CLOCK_MONOTONIC (no time
// namespace: both read the host's); the receiver samples the middle of each period. Channels:
//   flock   flock(LOCK_EX) on the python binary (a file of the shared read-only /usr bind);
//           the receiver tries LOCK_SH|LOCK_NB;
//   fcntl   a POSIX write lock (lockf) on /dev/null (the host's device node, bound writable into
//           every sandbox); the receiver tries a read lock;
//   threads 16 extra threads alive or not; the receiver reads the host-wide count of scheduling
//           entities in /proc/loadavg (field 4, after the slash).
// A 16-bit preamble (1010...) sets the receiver's threshold. Figure: the capacity of a binary
// symmetric channel with the measured bit error rate e, (1 - H(e)) / period, in bits per second:
// what this simple sender and receiver achieve here, a lower bound on what the channel allows.
//
//   node bench/covert-channels.mjs [--short] [--bits=256] [--channels=flock,fcntl,threads] [--periods=10,2,1,0.5,0.2,0.1,0.05]
//
// Needs root and `npm run build` (it runs codexec's sandbox from dist/, as sandbox-overhead.mjs).
import crypto from 'node:crypto';
import { parseArgs, isMain, positiveInt } from './lib/args.mjs';
import { fmt } from './lib/stats.mjs';
import { runStandalone } from './lib/report.mjs';
import { openSandbox } from './lib/sandbox.mjs';
import { machineHeader } from './machine.mjs';

const CHANNELS = ['flock', 'fcntl', 'threads'];
const PREAMBLE = '1010101010101010';
const THREADS = 16;

// Both programs: wait for the start, then act at an offset of each period (sender 0, receiver 1/2).
const COMMON = String.raw`import fcntl, json, os, sys, threading, time
T0, P, N, CH = %T0%, %P%, %N%, '%CH%'
def at(i, frac):
    d = T0 + int((i + frac) * P) - time.monotonic_ns()
    if d > 0:
        time.sleep(d / 1e9)
late = time.monotonic_ns() > T0
`;

const SENDER = String.raw`BITS = '%BITS%'
if CH == 'flock':
    fd = os.open(os.path.realpath(sys.executable), os.O_RDONLY)
    on = lambda: fcntl.flock(fd, fcntl.LOCK_EX)
    off = lambda: fcntl.flock(fd, fcntl.LOCK_UN)
elif CH == 'fcntl':
    fd = os.open('/dev/null', os.O_WRONLY)
    on = lambda: fcntl.lockf(fd, fcntl.LOCK_EX)
    off = lambda: fcntl.lockf(fd, fcntl.LOCK_UN)
else:
    held = []
    def on():
        ev = threading.Event()
        held.append(ev)
        for _ in range(%THREADS%):
            threading.Thread(target=ev.wait, daemon=True).start()
    def off():
        held.pop().set()
state = False
for i, b in enumerate(BITS):
    at(i, 0)
    if (b == '1') != state:
        state = b == '1'
        (on if state else off)()
if state:
    off()
print(json.dumps({'late': late}))
`;

const RECEIVER = String.raw`if CH == 'flock':
    fd = os.open(os.path.realpath(sys.executable), os.O_RDONLY)
    def sample():
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return 1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return 0
elif CH == 'fcntl':
    fd = os.open('/dev/null', os.O_RDONLY)
    def sample():
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return 1
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return 0
else:
    def sample():
        with open('/proc/loadavg') as f:
            return int(f.read().split()[3].split('/')[1])
samples = []
for i in range(N):
    at(i, 0.5)
    samples.append(sample())
print(json.dumps({'late': late, 'samples': samples}))
`;

function program(template, vars) {
  return template.replace(/%(\w+)%/g, (_, k) => String(vars[k]));
}

/** Binary entropy in bits. */
function entropy(p) {
  return p <= 0 || p >= 1 ? 0 : -p * Math.log2(p) - (1 - p) * Math.log2(1 - p);
}

/** Bits decoded from the receiver's samples: the threshold halfway between the preamble's ones and zeros. */
function decode(samples) {
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const pre = samples.slice(0, PREAMBLE.length);
  const ones = mean(pre.filter((_, i) => PREAMBLE[i] === '1'));
  const zeros = mean(pre.filter((_, i) => PREAMBLE[i] === '0'));
  const threshold = (ones + zeros) / 2;
  return samples.slice(PREAMBLE.length).map((x) => (ones > zeros ? x > threshold : x < threshold) ? '1' : '0').join('');
}

/** One transmission of `payload` bits over `channel` at `periodMs`: the bit error rate, or null when a run started late. */
async function transmit(sandbox, channel, periodMs, payload, marginMs) {
  const bits = PREAMBLE + payload;
  const periodNs = Math.round(periodMs * 1e6);
  const t0 = process.hrtime.bigint() + BigInt(Math.round(marginMs * 1e6)); // CLOCK_MONOTONIC, as python's time.monotonic_ns
  const vars = { T0: t0, P: periodNs, N: bits.length, CH: channel, BITS: bits, THREADS };
  const wallTimeMs = Math.ceil(marginMs + bits.length * periodMs + 5000);
  const limits = { wallTimeMs, cpuTimeMs: wallTimeMs };
  const [sent, received] = await Promise.all([
    sandbox.run(program(COMMON + SENDER, vars), limits),
    sandbox.run(program(COMMON + RECEIVER, vars), limits),
  ]);
  for (const [role, r] of [['sender', sent], ['receiver', received]]) {
    if (r.outcome.kind !== 'completed' || r.outcome.exitCode !== 0) {
      throw new Error(`${channel} ${periodMs} ms: the ${role} ended ${r.outcome.kind} (exit ${r.outcome.exitCode}): ${r.outcome.stderr.slice(0, 500)}`);
    }
  }
  const s = JSON.parse(sent.outcome.stdout);
  const r = JSON.parse(received.outcome.stdout);
  if (s.late || r.late) return null;
  const got = decode(r.samples);
  let errors = 0;
  for (let i = 0; i < payload.length; i++) if (got[i] !== payload[i]) errors++;
  return errors / payload.length;
}

export async function main(opts) {
  const nBits = opts.extra.bits ? positiveInt(opts.extra.bits, '--bits') : opts.short ? 64 : 256;
  const channels = opts.extra.channels ? String(opts.extra.channels).split(',') : CHANNELS;
  for (const c of channels) if (!CHANNELS.includes(c)) throw new Error(`--channels: unknown channel ${c} (${CHANNELS.join(', ')})`);
  const periods = (opts.extra.periods ? String(opts.extra.periods) : opts.short ? '10,1' : '10,2,1,0.5,0.2,0.1,0.05').split(',').map(Number);
  if (periods.some((p) => !(p > 0))) throw new Error('--periods: expected positive milliseconds');
  const notes = [];
  const rows = [];
  const best = new Map();
  // Two slots, whatever the cores: the two programs must run at once.
  const sandbox = await openSandbox({ capacity: { slots: 2 } });
  try {
    for (const channel of channels) {
      for (const periodMs of periods) {
        const payload = [...crypto.randomBytes(Math.ceil(nBits / 8))].map((b) => b.toString(2).padStart(8, '0')).join('').slice(0, nBits);
        let e = null;
        // A start late past the agreed time (a loaded machine) is retried with more margin.
        for (let marginMs = 1500; e === null && marginMs <= 6000; marginMs *= 2) e = await transmit(sandbox, channel, periodMs, payload, marginMs);
        if (e === null) {
          notes.push(`${channel} at ${periodMs} ms: a program started after the agreed time, three times; no figure`);
          continue;
        }
        const capacity = (1 - entropy(Math.min(e, 0.5))) / (periodMs / 1000);
        rows.push([channel, fmt(periodMs, 2), fmt(1000 / periodMs), `${(e * 100).toFixed(1)} %`, fmt(capacity)]);
        if (capacity > (best.get(channel)?.capacity ?? -1)) best.set(channel, { periodMs, e, capacity });
      }
    }
  } finally {
    await sandbox.close();
  }
  for (const [channel, b] of best) {
    notes.push(`${channel}: best ${fmt(b.capacity, 0)} bit/s (period ${fmt(b.periodMs, 2)} ms, ${(b.e * 100).toFixed(1)} % bit errors over ${nBits} bits)`);
  }
  const argv = process.argv.slice(2).join(' ');
  return {
    name: 'Covert channels between two concurrent executions',
    command: `node bench/covert-channels.mjs${argv ? ` ${argv}` : ''}`,
    notes,
    tables: [{ title: `${nBits} random bits per transmission, after a ${PREAMBLE.length}-bit preamble`, headers: ['channel', 'period ms', 'raw bit/s', 'bit errors', 'capacity bit/s'], rows }],
    targets: [],
  };
}

if (isMain(import.meta.url)) {
  console.log(machineHeader());
  await runStandalone(main, parseArgs());
}

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeOutcome, file, IS_ROOT, makeHostTempDir, planOf, py, reportOf, sandbox, SKIP_MESSAGE } from './helpers.js';
import { securitySuite } from './suite.js';

// The program's argv reaches the launcher inside its own options (native/PROTOCOL.md), and clients
// choose some of its words (Piston `args`, Judge0 `command_line_arguments`). The launcher used to
// read a phase's words up to a terminating `--end`: a word `--end` made every word after it a
// launcher option, so a client could switch seccomp off, pick the uid or bind the host's root.
// The words are now counted (`--exec N ...`): this attack sends exactly those words and checks
// that the program receives them literally and runs as confined as any other.

// The second list is the working exploit against the old framing: the trailing `--exec` swallows
// the launcher's own `--end`, so the request stayed well-formed and the program ran without its
// seccomp filter. (With the first, the old launcher refused the request: `--uid 0` fails its
// uid-drop check and `--ro /` its setup; other options would not.)
const HOSTILE = [
  ['--end', '--no-seccomp', '--uid', '0', '--ro', '/'],
  ['--end', '--no-seccomp', '--exec'],
].map((words) => ({ words, text: words.join(' ') }));

describe.skipIf(!IS_ROOT)(`attack: launcher options in the program's argv${IS_ROOT ? '' : ` (${SKIP_MESSAGE})`}`, () => {
  const s = securitySuite();
  let hostDir: string | null = null;
  afterEach(() => {
    if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
    hostDir = null;
  });

  it.each(HOSTILE)('words "$text" reach the program literally; it still runs under seccomp and its own uid, with no host root', async ({ words }) => {
    const env = s.env();
    // A file only the host has: visible in the sandbox only if "--ro /" bound the host's root.
    hostDir = makeHostTempDir('argv');
    const marker = path.join(hostDir, 'host-only');
    fs.writeFileSync(marker, 'host');
    const plan = planOf(env, 'python');
    plan.run.argv = [...plan.run.argv, ...words];
    const out = await sandbox(env, {
      plan,
      files: [
        file(
          'main.py',
          py(`out['argv'] = sys.argv[1:]
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
out['seccomp'] = status['Seccomp'].strip()
out['no_new_privs'] = status['NoNewPrivs'].strip()
out['uid'] = os.getuid()
out['host_only'] = os.path.exists(${JSON.stringify(marker)})
out['root'] = sorted(os.listdir('/'))`),
        ),
      ],
    });
    expect(out.kind, describeOutcome(out)).toBe('completed');
    const r = reportOf(out);
    expect(r.argv).toEqual(words);
    expect(r.seccomp, 'mode 2: the filter is installed').toBe('2');
    expect(r.no_new_privs).toBe('1');
    expect(r.uid).toBeGreaterThanOrEqual(env.settings.uidBase);
    expect(r.uid).toBeLessThan(env.settings.uidBase + 65536);
    expect(r.host_only).toBe(false);
    expect(r.root).not.toContain('root');
    expect(r.root).not.toContain('home');
  });
});

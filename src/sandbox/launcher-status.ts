// Parses the launcher's status lines (native/PROTOCOL.md, "Status lines"):
//   ready
//   phase NAME exit CODE wall_us N cpu_us N entry HOW
//   phase NAME signal SIG wall_us N cpu_us N entry HOW
//   phase NAME timeout wall_us N entry HOW   (HOW: clone3, join or none; not needed here)
//   phase NAME setup_error STEP ERRNO
//   setup_error STEP ERRNO
//   export files N bytes N
//   export_error REASON
//   done                                    (init's last line; the fork server acts on it, not this)
export type PhaseReport =
  | { phase: string; kind: 'exit'; code: number; wallUs: number; cpuUs: number }
  | { phase: string; kind: 'signal'; signal: number; wallUs: number; cpuUs: number }
  | { phase: string; kind: 'timeout'; wallUs: number }
  | { phase: string; kind: 'setup_error'; step: string; errno: number };

export interface LauncherStatus {
  ready: boolean;
  phases: PhaseReport[];
  setupError: { step: string; errno: number } | null;
  /** The working directory's export (--export-fd): what was sent, or why nothing was. */
  export: { files: number; bytes: number } | { error: string } | null;
}

export function parseLauncherStatus(text: string): LauncherStatus {
  const out: LauncherStatus = { ready: false, phases: [], setupError: null, export: null };
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'ready') out.ready = true;
    else if (w[0] === 'export' && w[1] === 'files') out.export = { files: Number(w[2]), bytes: Number(w[4]) };
    else if (w[0] === 'export_error') out.export = { error: w[1] ?? 'unknown' };
    else if (w[0] === 'setup_error') out.setupError ??= { step: w[1] ?? 'unknown', errno: Number(w[2] ?? 0) };
    else if (w[0] === 'phase' && w.length >= 3) {
      const phase = w[1];
      const field = (name: string) => {
        const i = w.indexOf(name);
        return i > 0 ? Number(w[i + 1]) : 0;
      };
      if (w[2] === 'exit') out.phases.push({ phase, kind: 'exit', code: Number(w[3]), wallUs: field('wall_us'), cpuUs: field('cpu_us') });
      else if (w[2] === 'signal') out.phases.push({ phase, kind: 'signal', signal: Number(w[3]), wallUs: field('wall_us'), cpuUs: field('cpu_us') });
      else if (w[2] === 'timeout') out.phases.push({ phase, kind: 'timeout', wallUs: field('wall_us') });
      else if (w[2] === 'setup_error') out.phases.push({ phase, kind: 'setup_error', step: w[3] ?? 'unknown', errno: Number(w[4] ?? 0) });
    }
  }
  return out;
}

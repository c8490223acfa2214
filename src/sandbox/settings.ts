import type { SlotCapacity } from './cgroups/capacity.js';
import type { SandboxSettings } from './spec.js';

/** What startup decided for this host (probeIsolation), as plain data: every SandboxHost opens from it. */
export interface SandboxHostSettings {
  mode: 'isolated' | 'insecure';
  launcherPath: string;
  uidBase: number;
  profilesDir: string;
  /** cgroup path holding every worker's directory (detected or CODEXEC_CGROUP_PARENT). */
  cgroupParent: string;
  /** What this process may run at once; its worker directory is capped at that. */
  capacity: SlotCapacity;
  /** Whole disks under the binds that this kernel throttles per execution ("MAJ:MIN"); empty: unthrottled. */
  ioDevices: string[];
  /** Settings every sandbox spec is built with (spec.ts; defaults when absent). */
  sandbox: SandboxSettings;
}

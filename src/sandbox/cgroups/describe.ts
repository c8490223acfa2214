import { type CgroupHost } from './detect.js';

/**
 * Lines for `codexec doctor`, e.g. "cgroup version: v1 (memory, pids, cpu, cpuacct, freezer) ok",
 * then the parent and one hint line per problem or missing optional controller.
 */
export function describeCgroups(host: CgroupHost): string[] {
  const version = host.version === 'none' ? 'none' : `v${host.version}`;
  const status = host.problems.length > 0 ? 'missing' : 'ok';
  const lines = [`cgroup version: ${version} (${host.controllers.join(', ') || 'no controllers'}) ${status}`];
  if (host.version !== 'none') lines.push(`cgroup parent: ${host.parent}${host.supervisor ? ` (own processes moved to ${host.supervisor})` : ''}`);
  for (const p of host.problems) lines.push(`  hint: ${p}`);
  for (const w of host.warnings) lines.push(`  note: ${w}`);
  return lines;
}

import { REQUIRED_CONTROLLERS, type CgroupHost } from './detect.js';

/** Lines for `codexec doctor`, e.g. "cgroup version: v1 (memory, pids, cpu, cpuacct, freezer) ok". */
export function describeCgroups(host: CgroupHost): string[] {
  if (host.version === 'none') return ['cgroup version: none missing', ...host.problems.map((p) => `  hint: ${p}`)];
  const required = REQUIRED_CONTROLLERS.every((c) => host.controllers.includes(c));
  const status = !required ? 'missing' : host.problems.length > 0 ? 'degraded' : 'ok';
  const lines = [`cgroup version: v${host.version} (${host.controllers.join(', ') || 'no controllers'}) ${status}`];
  lines.push(`cgroup parent: ${host.parent}${host.supervisor ? ` (own processes moved to ${host.supervisor})` : ''}`);
  for (const p of host.problems) lines.push(`  hint: ${p}`);
  return lines;
}

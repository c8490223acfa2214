#!/bin/sh
# Temporary: emulate a non-privileged container with cgroupns=private on a pure cgroup v2 kernel.
set -eu
id codexec >/dev/null 2>&1 || useradd --uid 10001 --no-create-home codexec
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/ctr
echo $$ > /sys/fs/cgroup/ctr/cgroup.procs
export CODEXEC_DATA_DIR=/tmp/v2sim-data
unshare --cgroup --mount --fork sh -c '
  umount -l /sys/fs/cgroup
  mount -t cgroup2 -o ro,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
  echo "container view: $(cat /proc/self/cgroup) $(grep " /sys/fs/cgroup " /proc/self/mountinfo | cut -d" " -f4-7)"
  echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
  if touch /sys/fs/cgroup/x 2>/dev/null; then echo "unexpected: writable before the entrypoint"; fi
  sh /mnt/host/test/docker/entrypoint.vm-tmp.sh doctor
  echo "after: $(grep " /sys/fs/cgroup " /proc/self/mountinfo | cut -d" " -f4-7)"
  ls /sys/fs/cgroup
'

#!/bin/sh
set -eu
if [ "$(id -u)" = 0 ]; then
  data=${CODEXEC_DATA_DIR:-/var/lib/codexec}
  install -d -o codexec -g codexec -m 0750 "$data"
  [ -e "$data/codexec.db" ] || setpriv --reuid=codexec --regid=codexec --clear-groups touch "$data/codexec.db"
  while read -r _ _ _ _ mnt opts rest; do
    case "$mnt" in /sys/fs/cgroup|/sys/fs/cgroup/*) ;; *) continue ;; esac
    case "$rest" in *"- cgroup "*|*"- cgroup2 "*) ;; *) continue ;; esac
    case "$opts" in ro|ro,*) ;; *) continue ;; esac
    mount -o remount,bind,rw "$mnt" 2>/dev/null || echo "codexec-entrypoint: $mnt is read-only and cannot be remounted (needs CAP_SYS_ADMIN and apparmor=unconfined; see docs/docker.md)" >&2
  done < /proc/self/mountinfo
fi
exec node /mnt/host/bin/codexec "$@"

#!/usr/bin/env bash
# Runs inside the pure cgroup v2 VM (../shared/tools/cgroup2-vm), from the repository at /mnt/host.
# The tests run in their own systemd service, as production runs codexec: Delegate=yes gives it a
# cgroup subtree to manage, and OOMPolicy=continue keeps systemd from stopping the whole unit when
# the kernel OOM-kills one execution (a memory bomb is an expected event, not a service failure).
# The VM has no npx and no D-Bus for systemd-run: a unit file, started with systemctl, it is.
# .ci/vm-vitest.sh runs vitest in it (and says what it does when vitest itself crashes); its time
# limits (VM_VITEST_FIRST_RUN_S, VM_VITEST_RERUN_S) pass through to the unit.
set -euo pipefail
cd /mnt/host
args=$(printf '%q ' "$@")
cat > /run/systemd/system/codexec-tests.service <<UNIT
[Unit]
Description=codexec tests on cgroup v2
[Service]
Type=oneshot
WorkingDirectory=/mnt/host
Environment=PATH=/usr/local/bin:/usr/bin:/bin HOME=/root CI=${CI:-} CODEXEC_SLOW=1
Environment=VM_VITEST_FIRST_RUN_S=${VM_VITEST_FIRST_RUN_S:-1140} VM_VITEST_RERUN_S=${VM_VITEST_RERUN_S:-480}
Delegate=yes
OOMPolicy=continue
ExecStart=/bin/bash /mnt/host/.ci/vm-vitest.sh ${args}
TimeoutStartSec=infinity
UNIT
systemctl daemon-reload
systemctl start codexec-tests.service || true
cat /mnt/host/build/vm-tests.log
rc=$(cat /tmp/codexec-tests.rc 2>/dev/null || echo 1)
echo "vm-tests: exit $rc"
exit "$rc"

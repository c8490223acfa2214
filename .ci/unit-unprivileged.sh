#!/usr/bin/env bash
# The unit layer as CONTRIBUTING.md promises it: as an unprivileged user (nobody), without
# PostgreSQL and without a build (no dist/, no launcher). A copy of the tree, since nobody cannot
# write into root's clone (vitest writes its config bundle under node_modules/.vite-temp).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/codexec-unit.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar --exclude=./.git --exclude=./dist --exclude=./build -cf - . | tar -xf - -C "$work"
mkdir -p "$work/.home"
chown -R nobody "$work"
chmod 755 "$work"
su nobody -s /bin/bash -c "cd '$work' && env -i npm_config_update_notifier=false HOME='$work/.home' PATH=/usr/local/bin:/usr/bin:/bin CI='${CI:-}' npm run test:unit"

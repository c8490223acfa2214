# codexec image: the API (`codexec serve`, non-root) and the sandboxed executors (`codexec worker`,
# root with the privileges listed in docs/docker.md) run from this one image.
#
#   docker build -t codexec .
#   docker compose up            # API on :8080 plus a worker, sharing one data volume
#
# Two stages: `build` has the compilers for the native module (better-sqlite3) and the
# sandbox launcher; the runtime stage gets the built tree with production dependencies only, plus
# the language toolchains that learners' programs use.

############################################################ build
FROM node:22-bookworm AS build

# node-gyp builds better-sqlite3 against the headers that ship with this Node in
# /usr/local/include/node, instead of downloading them (the build works offline and cannot pick
# up headers of another Node version).
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

WORKDIR /opt/codexec

# Dependencies and the launcher first, in their own layer: editing src/ recompiles neither.
# `npm ci --ignore-scripts` then `npm rebuild` runs the same install scripts as `npm install`: the
# dependencies' (the native module: prebuilt binary or node-gyp) and our own postinstall, which
# builds the sandbox launcher (static when libc.a is there, as it is here). That script only warns
# when it fails, so the build checks the result: an image without the launcher isolates nothing.
# (`prepare`, i.e. tsc, is not among them; it runs below once src/ is there.)
COPY package.json package-lock.json ./
COPY native ./native
COPY scripts ./scripts
RUN npm ci --ignore-scripts && npm rebuild && test -x build/codexec-launcher

COPY tsconfig.json ./
COPY src ./src
RUN npm run build && test -f dist/cli/main.js

# Production dependencies only; the native modules built above stay in place.
RUN npm prune --omit=dev \
 && node -e "require('better-sqlite3')"

############################################################ runtime
FROM node:22-bookworm-slim

# Sandbox and process plumbing:
#   util-linux  `setpriv` (the entrypoint's uid switch), and `unshare`
#               (`codexec doctor`'s namespace checks)
#   tini        PID 1: forwards SIGTERM for the ordered shutdown and reaps orphans
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends util-linux tini \
 && rm -rf /var/lib/apt/lists/*

# The toolchain of every language in sandbox-profiles/languages/, installed by the same script CI
# uses (one list, checked against the profiles by test/languages/install-script.test.ts): Debian
# packages (python3, gcc/g++, default-jdk-headless, golang-go, rustc, ruby, php-cli, perl, bash)
# and TypeScript with @types/node from npm under /usr/local/lib/codexec/typescript. Everything
# lands under /usr, which executions see read-only. The JDK's postinstall writes man-page links
# even into a slim image, hence the mkdir. The JDK also pulls in Debian's ca-certificates, which
# rewrites /etc/ssl/certs/ca-certificates.crt: where the base image points npm at that bundle (a
# build behind a TLS-inspecting proxy), npm keeps a copy of the original for the TypeScript step.
COPY .ci/install-toolchains.sh /tmp/install-toolchains.sh
RUN mkdir -p /usr/share/man/man1 \
 && if [ -f /etc/ssl/certs/ca-certificates.crt ]; then \
      cp /etc/ssl/certs/ca-certificates.crt /tmp/ca-bundle.crt && export npm_config_cafile=/tmp/ca-bundle.crt; \
    fi \
 && bash /tmp/install-toolchains.sh \
 && bash /tmp/install-toolchains.sh --check \
 && rm -rf /var/lib/apt/lists/* /tmp/install-toolchains.sh /tmp/ca-bundle.crt /root/.npm

# `codexec` runs the API. Executions never run as this user: the launcher gives each one its own
# uid from CODEXEC_SANDBOX_UID_BASE (200000 and up).
RUN groupadd --gid 10001 codexec \
 && useradd --uid 10001 --gid codexec --no-create-home --home-dir /var/lib/codexec --shell /usr/sbin/nologin codexec \
 && install -d -o codexec -g codexec -m 0750 /var/lib/codexec

# The entrypoint. As a non-root user (the API) it only execs codexec. As root (the worker) it first:
# - creates the data directory, owned by codexec;
# - creates the job database as codexec when it is missing: SQLite running as root gives a new
#   -wal or -shm file the owner of the database file, so a database made by codexec stays
#   writable by the API after the worker has used it (one made by root would not be);
# - remounts read-only cgroup mounts writable: without --privileged, engines mount the container's
#   own cgroups read-only (v2 with cgroupns=private: its own subtree; v1: its own group in each
#   hierarchy). CAP_SYS_ADMIN, which the sandbox needs anyway, allows it; it changes only this
#   mount's flag (bind remount), not what the container can reach.
RUN printf '%s\n' \
  '#!/bin/sh' \
  'set -eu' \
  'if [ "$(id -u)" = 0 ]; then' \
  '  data=${CODEXEC_DATA_DIR:-/var/lib/codexec}' \
  '  install -d -o codexec -g codexec -m 0750 "$data"' \
  '  [ -e "$data/codexec.db" ] || setpriv --reuid=codexec --regid=codexec --clear-groups touch "$data/codexec.db"' \
  '  while read -r _ _ _ _ mnt opts rest; do' \
  '    case "$mnt" in /sys/fs/cgroup|/sys/fs/cgroup/*) ;; *) continue ;; esac' \
  '    case "$rest" in *"- cgroup "*|*"- cgroup2 "*) ;; *) continue ;; esac' \
  '    case "$opts" in ro|ro,*) ;; *) continue ;; esac' \
  '    mount -o remount,bind,rw "$mnt" 2>/dev/null || echo "codexec-entrypoint: $mnt is read-only and cannot be remounted (needs CAP_SYS_ADMIN and apparmor=unconfined; see docs/docker.md)" >&2' \
  '  done < /proc/self/mountinfo' \
  'fi' \
  'exec /opt/codexec/bin/codexec "$@"' \
  > /usr/local/bin/codexec-entrypoint \
 && chmod 0755 /usr/local/bin/codexec-entrypoint

WORKDIR /opt/codexec
COPY --from=build /opt/codexec/package.json ./
COPY --from=build /opt/codexec/node_modules ./node_modules
COPY --from=build /opt/codexec/dist ./dist
COPY --from=build /opt/codexec/build/codexec-launcher ./build/codexec-launcher
COPY bin ./bin
COPY sandbox-profiles ./sandbox-profiles
# Fails the build unless codexec loads and finds the toolchain of every language it ships.
RUN ln -s /opt/codexec/bin/codexec /usr/local/bin/codexec \
 && test -x build/codexec-launcher \
 && codexec languages | tee /tmp/languages \
 && ! grep -v '^ok ' /tmp/languages \
 && rm /tmp/languages

# The API by default: listens on 8080 in the container, runs no executions itself (executions
# need root and the worker's privileges: run `codexec worker` beside it, see docker-compose.yml).
ENV NODE_ENV=production \
    CODEXEC_DATA_DIR=/var/lib/codexec \
    CODEXEC_HOST=0.0.0.0 \
    CODEXEC_PORT=8080 \
    CODEXEC_EXECUTORS=0
VOLUME ["/var/lib/codexec"]
EXPOSE 8080
USER codexec

# Liveness with Node's own fetch (no curl in the image). The worker serves no HTTP:
# docker-compose.yml turns this off for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CODEXEC_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/codexec-entrypoint"]
CMD ["serve"]

#!/usr/bin/env bash
# Installs the toolchain of every language in sandbox-profiles/languages/ that this host lacks, so
# that CI (and the Docker image) test and serve every shipped language. Idempotent: when every
# toolchain is already there it only checks paths and exits at once, without touching apt or npm.
#
#   bash .ci/install-toolchains.sh            install what is missing (needs root)
#   bash .ci/install-toolchains.sh --check    list what is missing; exit 1 if anything is
#
# Each line of TOOLCHAINS below names the path a profile's `toolchain` resolves (the sandbox sees
# only absolute paths under /usr, /bin, ...; nothing under /root or /home) and what provides it.
# test/languages/install-script.test.ts checks that every profile's toolchain entries are covered.
#
# Choices:
# - Rust: Debian's rustc (/usr/bin/rustc), not a rustup toolchain under /root/.cargo: the sandbox
#   hides /root on purpose (the worker's home holds its secrets), and binding /root/.rustup
#   read-only would expose a directory we do not control the content of.
# - TypeScript: the npm packages typescript + @types/node, pinned to the versions the project
#   itself builds with, in one fixed directory under /usr/local/lib (visible read-only in the
#   sandbox). Debian's node-typescript is 4.8 and Debian ships no @types/node, so programs that
#   read stdin (process, require, readline) would not type-check. Node 20 cannot run .ts itself.
# - Java: the JDK Debian calls default (17 on bookworm), headless.
set -euo pipefail

TS_DIR=/usr/local/lib/codexec/typescript
TS_VERSION=5.9.3
TYPES_NODE_VERSION=20.19.43

# path|provider   provider: apt:PACKAGE[,PACKAGE...] | npm-typescript | none (must already be there)
TOOLCHAINS=(
  "/usr/bin/python3|apt:python3"
  "/usr/bin/node|none"
  "$TS_DIR/node_modules/typescript/bin/tsc|npm-typescript"
  "/usr/bin/gcc|apt:gcc,libc6-dev"
  "/usr/bin/g++|apt:g++"
  "/usr/bin/javac|apt:default-jdk-headless"
  "/usr/bin/java|apt:default-jdk-headless"
  "/usr/bin/go|apt:golang-go"
  "/usr/bin/rustc|apt:rustc"
  "/usr/bin/ruby|apt:ruby"
  "/usr/bin/php|apt:php-cli"
  "/usr/bin/perl|apt:perl"
  "/bin/bash|apt:bash"
)

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  '') ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# node may live in /usr/local/bin (the official Docker images) instead of /usr/bin.
present() {
  [[ -x "$1" ]] && return 0
  [[ "$1" == /usr/bin/node && -x /usr/local/bin/node ]] && return 0
  return 1
}

apt_packages=()
need_typescript=0
missing=()
for entry in "${TOOLCHAINS[@]}"; do
  path=${entry%%|*}
  provider=${entry#*|}
  present "$path" && continue
  missing+=("$path")
  case "$provider" in
    apt:*) IFS=, read -r -a pkgs <<<"${provider#apt:}"; apt_packages+=("${pkgs[@]}") ;;
    npm-typescript) need_typescript=1 ;;
    none) echo "install-toolchains: $path is missing and is not installed by this script" >&2 ;;
  esac
done

# The installed TypeScript must also be the pinned version (a stale directory is reinstalled).
if [[ $need_typescript == 0 ]] && ! grep -q "\"version\": \"$TS_VERSION\"" "$TS_DIR/node_modules/typescript/package.json" 2>/dev/null; then
  need_typescript=1
  missing+=("typescript@$TS_VERSION")
fi

if [[ ${#missing[@]} == 0 ]]; then
  echo "install-toolchains: every language toolchain is present"
  exit 0
fi
echo "install-toolchains: missing: ${missing[*]}"
if [[ $check_only == 1 ]]; then exit 1; fi

if [[ $(id -u) != 0 ]]; then
  echo "install-toolchains: must run as root to install packages" >&2
  exit 1
fi

if [[ ${#apt_packages[@]} -gt 0 ]]; then
  mapfile -t apt_packages < <(printf '%s\n' "${apt_packages[@]}" | sort -u)
  echo "install-toolchains: apt-get install ${apt_packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if [[ $need_typescript == 1 ]]; then
  if ! command -v npm >/dev/null; then
    echo "install-toolchains: npm is needed to install TypeScript" >&2
    exit 1
  fi
  echo "install-toolchains: npm install typescript@$TS_VERSION @types/node@$TYPES_NODE_VERSION into $TS_DIR"
  rm -rf "$TS_DIR"
  mkdir -p "$TS_DIR"
  # --ignore-scripts: neither package needs an install script; readable by every uid.
  npm install --prefix "$TS_DIR" --no-audit --no-fund --no-save --ignore-scripts --loglevel=error \
    "typescript@$TS_VERSION" "@types/node@$TYPES_NODE_VERSION" >/dev/null
  chmod -R a+rX "$TS_DIR"
fi

# Verify: every path must be there now.
failed=0
for entry in "${TOOLCHAINS[@]}"; do
  path=${entry%%|*}
  if ! present "$path"; then echo "install-toolchains: still missing: $path" >&2; failed=1; fi
done
if [[ $failed == 1 ]]; then exit 1; fi
echo "install-toolchains: done"

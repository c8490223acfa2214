#!/bin/sh
# CPU time per sandboxed run, split by process (node, unshare, launcher, python) and by kernel vs
# user space, from `perf record -e cpu-clock` (software clock: works in VMs without PMU counters).
# Two runs of bench/profile/sandbox-loop.mjs, with N1 and N2 executions; the difference divided by
# N2-N1 is the per-run cost with startup (module loading, language probes) cancelled out.
#
#   sh bench/profile/perf-split.sh [N1=20] [N2=120] [--raw]   (--raw: python spawned directly)
set -eu
N1=${1:-20}
N2=${2:-120}
RAW=${3:-}
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for n in "$N1" "$N2"; do
  perf record -q -e cpu-clock -F 2000 -o "$OUT/$n.data" -- node bench/profile/sandbox-loop.mjs "$n" $RAW >"$OUT/$n.log" 2>&1
  cat "$OUT/$n.log"
  # comm, kernel or user, samples
  perf report -i "$OUT/$n.data" --sort comm,dso --stdio --no-children -g none -F comm,dso,sample 2>/dev/null |
    awk '!/^#/ && NF >= 3 { space = ($(NF-1) ~ /kernel/) ? "kernel" : "user"; s[$1 " " space] += $NF } END { for (k in s) print k, s[k] }' >"$OUT/$n.txt"
done
echo
echo "CPU ms per run (2000 Hz samples; (N2 run - N1 run) / (N2 - N1)):"
awk -v n1="$N1" -v n2="$N2" '
  FNR == NR { a[$1 " " $2] = $3; next }
  { b[$1 " " $2] = $3 }
  END {
    for (k in b) keys[k] = 1
    for (k in a) keys[k] = 1
    for (k in keys) { ms = (b[k] - a[k]) / 2 / (n2 - n1); if (ms > 0.05 || ms < -0.05) printf "%-32s %8.2f\n", k, ms | "sort -k3 -n -r"; total += ms }
    close("sort -k3 -n -r")
    printf "%-32s %8.2f\n", "total", total
  }' "$OUT/$N1.txt" "$OUT/$N2.txt"

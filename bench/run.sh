#!/usr/bin/env bash
# The benchmark suite of issue 5: builds regcenter once, makes a PKI in a
# temporary directory, runs `regcenter loadgen compare` (the center and
# the baseline server pinned to CPU 0, the load generator to CPU 1, every
# scenario against both in turn) and writes the table, with the machine it
# ran on, to bench/results/DATE-COMMIT.md.
#
#   bench/run.sh                      # the whole suite, default sizes
#   bench/run.sh --runs 5 --duration 20s
#   bench/run.sh --store sqlite:/big/center.db --scenarios cold,warm
#
# Arguments go to `regcenter loadgen compare` (see its -h). Run it on a
# quiet machine: anything else running weighs on the figures. Exits
# non-zero when the build or any run fails, and then writes no table.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/regcenter-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

go build -o "$work/regcenter" ./cmd/regcenter
"$work/regcenter" pki init --dir "$work/pki" > /dev/null

commit=$(git rev-parse --short HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  commit="$commit-dirty"
fi
date=$(date -u +%Y-%m-%d)
mkdir -p bench/results
out="bench/results/$date-$commit.md"

table="$work/table.md"
if ! "$work/regcenter" loadgen compare --pki "$work/pki" "$@" > "$table"; then
  cat "$table" >&2 # what was measured, to see what failed; not a result
  exit 1
fi

{
  echo "# regcenter benchmark, $date, commit $commit"
  echo
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) of memory, Linux $(uname -r)"
  echo "- $(go version | cut -d' ' -f3-)"
  echo "- commit $(git rev-parse HEAD)$( [ "${commit%-dirty}" != "$commit" ] && echo ' with uncommitted changes' ), run $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- command: regcenter loadgen compare $*"
  cat "$table"
} > "$out"
echo "wrote $out"

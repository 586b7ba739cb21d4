#!/usr/bin/env bash
# The first training forward + backward on (32, 64, 56, 56) in fresh JVMs, without and with
# --add-modules jdk.incubator.vector (issue 13, item 4): FirstCallHarness (src/test/java), run
# RUNS times each way, the two ways alternating, the load average recorded before every pair.
# Prints every run's line and the medians of the first step and of the sum of STEPS steps.
#
#   ./mvnw -o -q test-compile && benchmarks/first-call.sh
#   JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 benchmarks/first-call.sh
#   RUNS=9 STEPS=20 benchmarks/first-call.sh
#
# Extra JVM options for the run with the flag go in FLAG_OPTS (for example
# FLAG_OPTS=-Dbatchnorm4j.warmup=false, the vector kernels from the first call).
set -euo pipefail
cd "$(dirname "$0")/.."

java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
runs="${RUNS:-5}"
steps="${STEPS:-10}"
cp=target/classes:target/test-classes
main=io.github.batchnorm4j.FirstCallHarness
if [ ! -f target/test-classes/io/github/batchnorm4j/FirstCallHarness.class ]; then
  echo "run ./mvnw -o -q test-compile first" >&2
  exit 1
fi

"$java" -version 2>&1 | head -1
declare -a plain_first plain_total flag_first flag_total
for ((i = 1; i <= runs; i++)); do
  echo "run $i: $(uptime | sed 's/.*load/load/')"
  line=$("$java" -cp "$cp" "$main" "$steps" 2>/dev/null)
  echo "  no flag:   $line"
  plain_first+=("$(sed -E 's/^first=([0-9.]+).*/\1/' <<<"$line")")
  plain_total+=("$(sed -E 's/.* total=([0-9.]+).*/\1/' <<<"$line")")
  # shellcheck disable=SC2086
  line=$("$java" --add-modules jdk.incubator.vector ${FLAG_OPTS:-} -cp "$cp" "$main" "$steps" \
      2>/dev/null)
  echo "  with flag: $line"
  flag_first+=("$(sed -E 's/^first=([0-9.]+).*/\1/' <<<"$line")")
  flag_total+=("$(sed -E 's/.* total=([0-9.]+).*/\1/' <<<"$line")")
done
echo "after: $(uptime | sed 's/.*load/load/')"

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) { print v[(NR + 1) / 2] } else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}
pf=$(median "${plain_first[@]}")
ff=$(median "${flag_first[@]}")
pt=$(median "${plain_total[@]}")
ft=$(median "${flag_total[@]}")
echo "median first step (ms): no flag $pf, with flag $ff, ratio $(awk -v a="$ff" -v b="$pf" 'BEGIN { printf "%.2f", a / b }')"
echo "median sum of $steps steps (ms): no flag $pt, with flag $ft, ratio $(awk -v a="$ft" -v b="$pt" 'BEGIN { printf "%.2f", a / b }')"

#!/usr/bin/env bash
# The benchmark run behind docs/generated/: for each JDK given, ONE JMH run that measures, in the
# same run and with the same settings,
#   - batchnorm4j without the flag (BatchNorm4jScalar) and with --add-modules jdk.incubator.vector
#     (BatchNorm4jSimd), each at the library's defaults (new BatchNorm2d(C), no builder setting)
#     and at threads(1) and threads(2);
#   - PyTorch 2.7.1 through DJL at its own defaults and at 1 and 2 inter-op and intra-op threads
#     (TorchBatchNorm for the forwards, TorchBackward for the backward);
#   - the copy bandwidth (Bandwidth.copy) at 1 and 2 threads, and the least-arithmetic
#     elementwise passes (Bandwidth.affine, Bandwidth.dxPass) that bound the training passes;
# on the five real shapes and the call-overhead shape (2, 4, 2, 2), training forward, eval forward
# and training backward; 3 forks, 6 x 100 ms warm-up, 5 x 100 ms measured, -prof gc. It builds
# nothing: build first (benchmarks/README.md).
#
# Every fork runs with GLIBC_TUNABLES set below (forks inherit this script's environment; the
# PyTorch state refuses to run without it). Before and after each JMH run the script records
# `uptime` and /proc/loadavg in run.properties; each fork appends what the machine did during it
# (load, CPU time of other processes, steal) to forks.jsonl (ForkProbe).
#
# Usage: benchmarks/run.sh [options] [-- extra JMH options]
#   --jdk DIR        a JDK home; repeat for several (default: $JAVA_HOME, else java on PATH)
#   --out DIR        results directory (default benchmarks/results/run-<UTC time>); each JDK
#                    writes DIR/jdk<feature version>/ {run.properties, jmh.json, jmh.log, forks.jsonl}
#   --label TEXT     what the run is, recorded and printed at the top of every generated table:
#                    final, trial, smoke ... (default: trial)
#   --smoke          tiny settings to check the pipeline: 1 fork, shapes 32x256x14x14 and 2x4x2x2,
#                    2 x 50 ms warm-up, 3 x 50 ms measured; label smoke
#   --forks N, --warmups N, --warmup-time T, --iterations N, --iteration-time T, --shapes A,B
#                    override the settings (defaults 3, 6, 100ms, 5, 100ms, all six shapes)
#   --settle SEC     wait up to SEC seconds for the 1-minute load average to fall below
#                    --max-load before each JMH run (default 240; the wait is recorded)
#   --max-load L     (default 0.5)
#   --report DIR     afterwards, generate the report from every JDK of this run into DIR
#                    (for example docs/generated)
# Anything after -- goes to JMH as is (for example -p threads=1); JMH refuses an option given twice,
# so change forks, iterations and shapes with the options above, not after --.
set -euo pipefail

GLIBC_TUNABLES_REQUIRED="glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
jar="$here/target/benchmarks.jar"

jdks=()
out=""
label="trial"
smoke=0
settle=240
max_load=0.5
report=""
forks="" wi="" w="" i="" r="" shapes=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jdk) jdks+=("$2"); shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --label) label="$2"; shift 2 ;;
    --smoke) smoke=1; label="smoke"; shift ;;
    --settle) settle="$2"; shift 2 ;;
    --max-load) max_load="$2"; shift 2 ;;
    --forks) forks="$2"; shift 2 ;;
    --warmups) wi="$2"; shift 2 ;;
    --warmup-time) w="$2"; shift 2 ;;
    --iterations) i="$2"; shift 2 ;;
    --iteration-time) r="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    --report) report="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ ! -f "$jar" ] || [ ! -d "$here/target/lib" ]; then
  echo "no $jar: build first (benchmarks/README.md), for example" >&2
  echo "  ./mvnw -o -q install -DskipTests -Dinvoker.skip && (cd benchmarks && ../mvnw -o -q package)" >&2
  exit 2
fi
if [ ${#jdks[@]} -eq 0 ]; then
  if [ -n "${JAVA_HOME:-}" ]; then
    jdks=("$JAVA_HOME")
  else
    jdks=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
fi
[ -n "$out" ] || out="$here/results/run-$(date -u +%Y%m%d-%H%M)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The measured benchmarks: three passes of the library and of PyTorch, the copy and the
# elementwise ceilings.
include=(
  '^io\.github\.batchnorm4j\.bench\.(BatchNorm4jScalar|BatchNorm4jSimd|TorchBatchNorm|TorchBackward)\.(trainForward|evalForward|trainBackward)$'
  '^io\.github\.batchnorm4j\.bench\.Bandwidth\.(copy|affine|dxPass)$'
)
if [ "$smoke" = 1 ]; then
  : "${forks:=1}" "${wi:=2}" "${w:=50ms}" "${i:=3}" "${r:=50ms}" "${shapes:=32x256x14x14,2x4x2x2}"
else
  : "${forks:=3}" "${wi:=6}" "${w:=100ms}" "${i:=5}" "${r:=100ms}"
fi
settings=(-f "$forks" -wi "$wi" -w "$w" -i "$i" -r "$r")
[ -z "$shapes" ] || settings+=(-p "shape=$shapes")
jmh_args=("${include[@]}" "${settings[@]}" -prof gc -foe true "${extra[@]}")

export GLIBC_TUNABLES="$GLIBC_TUNABLES_REQUIRED"

# The library jar the forks load: the one benchmarks.jar's manifest names (target/lib keeps the jars
# of earlier builds too, so listing it would name whichever sorts first), and the repository's
# commit.
libjar="$(unzip -p "$jar" META-INF/MANIFEST.MF 2>/dev/null | tr -d '\r' | tr '\n' '~' \
  | sed 's/~ //g' | tr '~' '\n' | grep -o 'lib/batchnorm4j-[^ ]*\.jar' | head -1 || true)"
libjar="${libjar#lib/}"
libjar="${libjar:-unknown}"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
# tracked files changed, outside the run's own outputs (benchmarks/results/, docs/generated/)
dirty="$(git -C "$repo" status --porcelain 2>/dev/null | grep -v '^??' \
  | grep -v -e ' benchmarks/results/' -e ' docs/generated/' | grep -c . || true)"

load1() { cut -d' ' -f1 /proc/loadavg; }

run_dirs=()
for jdk in "${jdks[@]}"; do
  java="$jdk/bin/java"
  [ -x "$java" ] || { echo "no $java" >&2; exit 2; }
  feature="$("$java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')"
  dir="$out/jdk$feature"
  mkdir -p "$dir"
  rm -f "$dir/forks.jsonl" "$dir/jmh.json"
  props="$dir/run.properties"

  waited=0
  while awk -v l="$(load1)" -v m="$max_load" 'BEGIN { exit !(l > m) }' && [ "$waited" -lt "$settle" ]; do
    [ "$waited" = 0 ] && echo "waiting for the load average ($(load1)) to fall below $max_load (at most ${settle}s)"
    sleep 10
    waited=$((waited + 10))
  done

  {
    echo "# benchmarks/run.sh, one JMH run"
    echo "label=$label"
    echo "jdk.home=$jdk"
    echo "jdk.feature=$feature"
    echo "java.version=$("$java" -version 2>&1 | tr '\n' ' ' | sed 's/ *$//')"
    echo "library.jar=$libjar"
    echo "repo.commit=$commit"
    echo "repo.uncommitted.files=$dirty"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "cpus=$(nproc)"
    echo "glibc.tunables=$GLIBC_TUNABLES"
    echo "jmh.args=${jmh_args[*]}"
    echo "settle.max.load=$max_load"
    echo "settle.waited.seconds=$waited"
    echo "start.utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "uptime.before=$(uptime)"
    echo "loadavg.before=$(cat /proc/loadavg)"
  } > "$props"

  echo "== JDK $feature: $(uptime)"
  set +e
  BENCH_FORK_LOG="$dir/forks.jsonl" "$java" -jar "$jar" "${jmh_args[@]}" \
      -rf json -rff "$dir/jmh.json" 2>&1 | tee "$dir/jmh.log"
  status=${PIPESTATUS[0]}
  set -e
  {
    echo "end.utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "uptime.after=$(uptime)"
    echo "loadavg.after=$(cat /proc/loadavg)"
    echo "jmh.exit=$status"
  } >> "$props"
  echo "== JDK $feature done (exit $status): $(uptime)"
  [ "$status" = 0 ] || { echo "JMH failed, see $dir/jmh.log" >&2; exit "$status"; }
  run_dirs+=("$dir")
done

if [ -n "$report" ]; then
  mkdir -p "$report"
  report="$(cd "$report" && pwd)"
  java="${jdks[0]}/bin/java"
  # from the repository root, so that the pages name the run directories relative to it
  (cd "$repo" && "$java" -cp "$jar" io.github.batchnorm4j.bench.Report --out "$report" "${run_dirs[@]}")
fi
echo "results in $out"

#!/usr/bin/env bash
# One evaluation at vocabulary scale (softmax cross-entropy with every per-class statistic and the
# class-row Gauss-Newton trace) against the forward GEMM alone, side by side in one run, as
# ratios (issue 12's target: at most 1.3). Needs a build with -DOPTBENCH_BUILD_BENCH=ON.
#   bench/run_evaluation.sh [BUILD_DIR]      (default build-native)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
source bench/lib.sh
bin=$(bench_bin "$build" evaluation_bench)
bench_backend "$bin"
declare -A forward evaluation
for round in 1 2 3; do
  while IFS=, read -r name ms _; do
    shape=${name#*/}; shape=${shape%/chunk*}
    case $name in
      BM_Forward*) forward[$shape]+="$ms " ;;
      BM_Evaluation*) evaluation[$shape]+="$ms " ;;
    esac
  done < <(bench_csv "$bin")
done
printf "%-16s %12s %14s %8s\n" shape forward_ms evaluation_ms ratio
for shape in c:5000/d:128 c:5000/d:512 c:50000/d:128 c:50000/d:512; do
  f=$(echo "${forward[$shape]:-}" | median); e=$(echo "${evaluation[$shape]:-}" | median)
  [ -n "$f" ] && [ -n "$e" ] || { printf "%-16s %12s\n" "$shape" "(missing)"; continue; }
  printf "%-16s %12.1f %14.1f %8.2f\n" "$shape" "$f" "$e" "$(echo "$e / $f" | bc -l)"
done
echo "(2,048 rows in chunks of 512, one thread; median of 3 rounds; ratio = evaluation / forward GEMM alone)"

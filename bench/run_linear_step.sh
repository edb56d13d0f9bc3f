#!/usr/bin/env bash
# The engine's full-batch step vs PyTorch's, side by side in one run, as a ratio (the machines
# here are shared and noisy: only the ratio means anything). Needs a build with
# -DOPTBENCH_BUILD_BENCH=ON (e.g. `cmake --preset native`) and Debian's python3-torch.
#   bench/run_linear_step.sh [BUILD_DIR]      (default build-native)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
bin="$build/bench/linear_step_bench"
[ -x "$bin" ] || { echo "no $bin: configure with -DOPTBENCH_BUILD_BENCH=ON and build it" >&2; exit 2; }
# OPENBLAS_CORETYPE would pin PyTorch's BLAS to AVX2 kernels; let both use the full CPU.
unset OPENBLAS_CORETYPE
declare -A ours peer
for round in 1 2 3; do
  while read -r m ms; do ours[$m]+="$ms "; done < <(
    "$bin" --benchmark_format=csv 2>/dev/null | awk -F, '/BM_FullBatchAdamStep/ {
      split($1, a, "/"); print a[2], $4 }')
  while read -r line; do
    m=${line#m=}; m=${m%% *}; ms=${line##*=}; peer[$m]+="$ms "
  done < <(/usr/bin/python3 bench/peer/torch_linear_step.py 2)
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "%-3s %14s %14s %8s\n" m optbench_ms pytorch_ms ratio
for m in 7 8; do
  o=$(echo "${ours[$m]}" | median); p=$(echo "${peer[$m]}" | median)
  printf "%-3s %14.2f %14.2f %8.2f\n" "$m" "$o" "$p" "$(echo "$o / $p" | bc -l)"
done
echo "(ratio = optbench time / PyTorch time per step, median of 3 alternating rounds; < 1 is faster)"

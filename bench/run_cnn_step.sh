#!/usr/bin/env bash
# The engine's full-batch CNN step (forward + backward, 2,000 rows of 28 x 28, one chunk) vs
# PyTorch's, side by side in one run, as a ratio (the machines here are shared and noisy: only the
# ratio means anything). Needs a build with -DOPTBENCH_BUILD_BENCH=ON (e.g. `cmake --preset
# native`) and Debian's python3-torch.
#   bench/run_cnn_step.sh [BUILD_DIR] [ROUNDS]      (default build-native, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
rounds=${2:-3}
bin="$build/bench/cnn_step_bench"
[ -x "$bin" ] || { echo "no $bin: configure with -DOPTBENCH_BUILD_BENCH=ON and build it" >&2; exit 2; }
# OPENBLAS_CORETYPE would pin PyTorch's BLAS to AVX2 kernels; let both use the full CPU.
unset OPENBLAS_CORETYPE
declare -A ours peer
for ((round = 1; round <= rounds; round++)); do
  # Benchmark names are BM_CnnFullBatchStep/<rows>/<c1>/<c2>/min_time:2.000.
  while read -r key ms; do ours[$key]+="$ms "; done < <(
    "$bin" --benchmark_format=csv 2>/dev/null | awk -F, '/BM_CnnFullBatchStep/ {
      gsub(/"/, "", $1); split($1, a, "/"); print a[3] "/" a[4], $4 }')
  while read -r line; do
    c1=${line#c1=}; c1=${c1%% *}; c2=${line#*c2=}; c2=${c2%% *}; ms=${line##*=}
    peer[$c1/$c2]+="$ms "
  done < <(/usr/bin/python3 bench/peer/torch_cnn_step.py 2)
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf "%-6s %14s %14s %8s\n" c1/c2 optbench_ms pytorch_ms ratio
for key in 8/16 32/64; do
  o=$(echo "${ours[$key]}" | median); p=$(echo "${peer[$key]}" | median)
  printf "%-6s %14.1f %14.1f %8.2f\n" "$key" "$o" "$p" "$(echo "$o / $p" | bc -l)"
done
echo "(ratio = optbench time / PyTorch time per step, median of $rounds alternating rounds; < 1 is faster)"

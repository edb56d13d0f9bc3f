#!/usr/bin/env bash
# The engine's full-batch CNN step (forward + backward, 2,000 rows of 28 x 28, one chunk) vs
# PyTorch's, side by side in one run, at 1 and at 2 threads each, as ratios (the machines here
# are shared and noisy: only the ratios mean anything). Needs a build with
# -DOPTBENCH_BUILD_BENCH=ON (e.g. `cmake --preset native`) and the peer's packages
# (bench/README.md).
#   bench/run_cnn_step.sh [BUILD_DIR] [ROUNDS]      (default build-native, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
rounds=${2:-3}
# OPENBLAS_CORETYPE would pin OpenBLAS (ours and PyTorch's) to AVX2 kernels; use the full CPU.
unset OPENBLAS_CORETYPE
source bench/lib.sh
bin=$(bench_bin "$build" cnn_step_bench)
bench_backend "$bin"
declare -A ours peer
for ((round = 1; round <= rounds; round++)); do
  # Names: BM_CnnFullBatchStep/<rows>/<c1>/<c2>/<threads>/min_time:2.000/real_time.
  while IFS=, read -r name ms _; do
    IFS=/ read -r _ _ c1 c2 t _ <<<"$name"
    ours[$c1/$c2/$t]+="$ms "
  done < <(bench_csv "$bin")
  for t in 1 2; do
    while read -r line; do
      case $line in
        c1=*) c1=${line#c1=}; c1=${c1%% *}; c2=${line#*c2=}; c2=${c2%% *}
          peer[$c1/$c2/$t]+="${line##*=} " ;;
        "# peer:"*) ((round == 1)) && echo "$line (threads $t)" ;;
      esac
    done < <(/usr/bin/python3 bench/peer/torch_cnn_step.py "$t" 2)
  done
done
printf "%-6s %-8s %12s %12s %8s\n" c1/c2 threads optbench_ms pytorch_ms ratio
for t in 1 2; do
  for key in 8/16 32/64; do
    o=$(echo "${ours[$key/$t]:-}" | median); p=$(echo "${peer[$key/$t]:-}" | median)
    [ -n "$o" ] || { printf "%-6s %-8s %12s\n" "$key" "$t" "(skipped)"; continue; }
    printf "%-6s %-8s %12.1f %12.1f %8.2f\n" "$key" "$t" "$o" "$p" "$(echo "$o / $p" | bc -l)"
  done
done
echo "(ratio = optbench time / PyTorch time per step, wall clock, median of $rounds alternating rounds; < 1 is faster)"

#!/usr/bin/env bash
# Mini-batch Adam steps of an MLP (784-512-512-10, batch 256) and a transformer on every position
# (vocabulary 5,000, context 64, d 128, 2 layers, 4 heads, batch 32) vs PyTorch's, side by side
# in one run, at 1 and at 2 threads each, as ratios (the machines here are shared and noisy: only
# the ratios mean anything). Needs a build with -DOPTBENCH_BUILD_BENCH=ON (e.g. `cmake --preset
# native`), the Fashion-MNIST and fortunes packages (scripts/setup) and the peer's packages
# (bench/README.md).
#   bench/run_model_step.sh [BUILD_DIR] [ROUNDS]      (default build-native, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-native}
rounds=${2:-3}
unset OPENBLAS_CORETYPE  # It would pin OpenBLAS (ours and PyTorch's) to AVX2 kernels.
source bench/lib.sh
bin=$(bench_bin "$build" model_step_bench)
bench_backend "$bin"
declare -A ours peer
for ((round = 1; round <= rounds; round++)); do
  # Names: BM_MlpAdamStep/threads:1/min_time:2.000/real_time.
  while IFS=, read -r name ms _; do
    model=${name#BM_}; model=${model%%AdamStep*}; t=${name#*threads:}; t=${t%%/*}
    ours[${model,,}/$t]+="$ms "
  done < <(bench_csv "$bin")
  for t in 1 2; do
    while read -r line; do
      case $line in
        model=*) model=${line#model=}; model=${model%% *}; peer[$model/$t]+="${line##*=} " ;;
        "# peer:"*) ((round == 1)) && echo "$line (threads $t)" ;;
      esac
    done < <(/usr/bin/python3 bench/peer/torch_model_step.py "$t" 2)
  done
done
printf "%-12s %-8s %12s %12s %8s\n" model threads optbench_ms pytorch_ms ratio
for t in 1 2; do
  for model in mlp transformer; do
    o=$(echo "${ours[$model/$t]:-}" | median); p=$(echo "${peer[$model/$t]:-}" | median)
    [ -n "$o" ] || { printf "%-12s %-8s %12s\n" "$model" "$t" "(skipped)"; continue; }
    printf "%-12s %-8s %12.2f %12.2f %8.2f\n" "$model" "$t" "$o" "$p" "$(echo "$o / $p" | bc -l)"
  done
done
echo "(ratio = optbench time / PyTorch time per step, wall clock, median of $rounds alternating rounds; < 1 is faster)"
